"""Alerts and monitoring: open alerts (acknowledge), traffic per model over time, drift
per feature over time, and the callers whose queries look like model extraction."""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from garrison.errors import InvalidInput
from garrison.serving.monitoring import DriftWindowRecord
from garrison.types import utc_iso
from garrison.web.console.charts import bucket_labels, line_chart
from garrison.web.console.context import call, checked_form, config_of, render, viewer

__all__ = ["RANGES", "ROUTES", "drift_charts"]

#: The time ranges offered: name -> (span, buckets).
RANGES: dict[str, tuple[_dt.timedelta, int]] = {
    "1h": (_dt.timedelta(hours=1), 60),
    "24h": (_dt.timedelta(hours=24), 48),
    "7d": (_dt.timedelta(days=7), 56),
    "30d": (_dt.timedelta(days=30), 60),
}
_ALERT_ID = re.compile(r"^[0-9a-f-]{36}$")
#: Features drawn per model (the most drifted first); the rest are listed.
_CHARTED_FEATURES = 12


def drift_charts(windows: list[DriftWindowRecord]) -> list[dict[str, Any]]:
    """One small chart per feature: its deciding effect size per window and the threshold."""
    if not windows:
        return []
    names: list[str] = []
    for w in windows:
        names += [f.feature for f in w.features if f.feature not in names]
    drifted = {n: sum(1 for w in windows for f in w.features if f.feature == n and f.drifted)
               for n in names}
    ordered = sorted(names, key=lambda n: (-drifted[n], names.index(n)))
    labels = [f"{w.created[5:10]} {w.created[11:16]} v{w.version}" for w in windows]
    charts = []
    for name in ordered[:_CHARTED_FEATURES]:
        values, flags, threshold, method = [], [], None, ""
        for w in windows:
            found = next((f for f in w.features if f.feature == name), None)
            values.append(found.effect_size if found else None)
            flags.append(bool(found and found.drifted))
            if found is not None and found.threshold is not None:
                threshold, method = found.threshold, found.effect_method
        charts.append({
            "feature": name, "drifted": drifted[name], "method": method,
            "threshold": threshold,
            "chart": line_chart([(name, "s-effect", values)], labels, width=360, height=200,
                                threshold=threshold, flags=flags),
            "rows": list(zip(labels, values, flags, strict=True)),
        })
    return charts


async def page(request: Request) -> Response:
    who = await viewer(request)
    services = config_of(request).services
    range_name = request.query_params.get("range", "24h")
    if range_name not in RANGES:
        raise InvalidInput("range: one of " + ", ".join(RANGES))
    model = request.query_params.get("model") or None
    span, buckets = RANGES[range_name]
    now = services.clock.now()
    until = now.replace(second=0, microsecond=0) + _dt.timedelta(minutes=1)
    since = until - span

    def load() -> dict[str, Any]:
        monitoring = services.monitoring
        alerts = monitoring.alerts(who.principal, open_only=True, limit=200)
        suspects = monitoring.suspects(who.principal, since=utc_iso(now - _dt.timedelta(days=30)))
        traffic = monitoring.traffic(who.principal, since=since, until=until, buckets=buckets)
        month = utc_iso(now - _dt.timedelta(days=30))
        names = sorted({v.name for v in services.registry.list_versions(who.principal)})
        drifting = [n for n in monitoring.drift_models(who.principal, since=month)
                    if n in names]
        chosen = model if model in names else (drifting or names or [None])[0]
        windows = [] if chosen is None else monitoring.drift(who.principal, chosen,
                                                             since=month)
        return {"alerts": alerts, "suspects": suspects, "traffic": traffic, "names": names,
                "chosen": chosen, "windows": windows}

    data = await call(load)
    traffic_charts = []
    for s in data["traffic"]:
        labels = bucket_labels(since, s.bucket_seconds, len(s.requests))
        traffic_charts.append({
            "model": s.model, "totals": (sum(s.requests), sum(s.rejections), sum(s.fallbacks)),
            "chart": line_chart([("requests", "s-requests", s.requests),
                                 ("rejections", "s-rejections", s.rejections),
                                 ("fallbacks", "s-fallbacks", s.fallbacks)], labels),
            "rows": list(zip(labels, s.requests, s.rejections, s.fallbacks, strict=True)),
        })
    return render(request, "monitoring.html", who, alerts=data["alerts"],
                  suspects=data["suspects"], traffic=traffic_charts, names=data["names"],
                  chosen=data["chosen"], drift=drift_charts(data["windows"]),
                  windows=len(data["windows"]), ranges=list(RANGES), range=range_name,
                  notice="Alert acknowledged." if request.query_params.get("done") == "ack"
                  else "")


async def acknowledge(request: Request) -> Response:
    who = await viewer(request)
    await checked_form(request, who)
    alert_id = request.path_params["alert_id"]
    if not _ALERT_ID.fullmatch(alert_id):
        raise InvalidInput("not an alert id")
    monitoring = config_of(request).services.monitoring
    await call(monitoring.acknowledge, who.principal, alert_id, request_id=who.request_id)
    return RedirectResponse("/console/monitoring?done=ack", status_code=303)


ROUTES = [
    Route("/monitoring", page, methods=["GET"]),
    Route("/alerts/{alert_id}/acknowledge", acknowledge, methods=["POST"]),
]
