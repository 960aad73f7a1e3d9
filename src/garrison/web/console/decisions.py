"""Decisions: look one up by request id; show its inputs as recorded under the privacy
policy, its outputs, fallback and flags, its explanation as a bar chart of feature
contributions, and the check of its batch against the audit event that anchors it."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from garrison.errors import GarrisonError, InvalidInput, NotFound
from garrison.web.console.charts import contribution_chart
from garrison.web.console.context import call, config_of, render, viewer

__all__ = ["ROUTES", "explanation_charts"]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
#: Rows of one decision whose explanation is drawn (the rest are in the data table).
_CHARTED_ROWS = 5


def _contributions(explanation: dict[str, Any]) -> tuple[dict[str, float], str]:
    """The contributions to draw and which output they explain."""
    contributions = explanation.get("contributions") or {}
    target = explanation.get("target")
    if contributions and all(isinstance(v, dict) for v in contributions.values()):
        output = explanation.get("output_value") or {}
        label = max(output, key=lambda k: output[k] if output[k] is not None else -1e300) \
            if isinstance(output, dict) and output else next(iter(contributions))
        return dict(contributions[label]), f"class {label}"
    return {str(k): v for k, v in contributions.items()}, (
        f"class {target}" if target is not None else "the output")


def explanation_charts(record: dict[str, Any]) -> list[dict[str, Any]]:
    """One chart per explained row (the first few), with the numbers it shows."""
    out = []
    for row, explanation in enumerate((record.get("explanation") or [])[:_CHARTED_ROWS]):
        if not isinstance(explanation, dict):
            continue
        contributions, explains = _contributions(explanation)
        out.append({"row": row, "explains": explains, "chart": contribution_chart(contributions),
                    "method": explanation.get("method", ""),
                    "output_space": explanation.get("output_space", ""),
                    "base_value": explanation.get("base_value"),
                    "output_value": explanation.get("output_value"),
                    "contributions": sorted(contributions.items(),
                                            key=lambda kv: abs(kv[1] or 0), reverse=True)})
    return out


async def lookup(request: Request) -> Response:
    who = await viewer(request)
    request_id = (request.query_params.get("request_id") or "").strip()
    services = config_of(request).services
    if not request_id:
        # The page itself needs the right to read decisions, even before a search.
        await call(services.guard.require, who.principal, "view-decision",
                   request_id=who.request_id)
        return render(request, "decisions.html", who, request_id="", record=None)
    if not _REQUEST_ID.fullmatch(request_id):
        raise InvalidInput("a request id is 1-128 letters, digits and . _ : -")

    def load() -> dict[str, Any]:
        record = services.decisions.fetch(who.principal, request_id)
        features: list[str] = []
        try:
            version = services.registry.show(who.principal, record["model"],
                                              int(record["version"]))
            schema = version.metadata.input_schema
            features = schema.names if schema is not None else []
        except (GarrisonError, ValueError):
            features = []  # A fallback constant (version 0) or a version gone since.
        return {"record": record, "features": features}

    try:
        data = await call(load)
    except NotFound:
        return render(request, "decisions.html", who, status=404, request_id=request_id,
                      record=None, missing=True)
    record = data["record"]
    return render(request, "decisions.html", who, request_id=request_id, record=record,
                  features=data["features"], charts=explanation_charts(record),
                  missing=False)


ROUTES = [Route("/decisions", lookup, methods=["GET"])]
