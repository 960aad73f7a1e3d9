"""The audit trail: filterable, newest first, paginated; verify now; export.

Reading needs ``view-audit-log``, verifying ``verify-audit-log`` (each verification is
recorded, with the first bad position when the chain is broken) and exporting
``export-audit-log`` (recorded with the number of events). Verify and export are
POST forms with the CSRF token, because each one writes to the trail.
"""

from __future__ import annotations

import datetime as _dt
import tempfile
from collections.abc import Iterator
from typing import Any

from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from garrison.audit import OUTCOMES, AuditQuery
from garrison.errors import AuditChainBroken, InvalidInput
from garrison.types import utc_iso
from garrison.web.console.context import Viewer, call, checked_form, config_of, render, viewer

__all__ = ["PAGE_SIZE", "ROUTES", "parse_filters"]

PAGE_SIZE = 50
_TEXT_FILTERS = ("actor", "action", "resource", "request_id")


def _moment(value: str, field: str, *, end: bool = False) -> str:
    """A date (``2026-01-02``) or a local-less date and time, read as UTC."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = _dt.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=_dt.UTC)
            return utc_iso(day + _dt.timedelta(days=1, microseconds=-1) if end else day)
        moment = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{field}: give a date (YYYY-MM-DD) or a date and time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.UTC)
    return utc_iso(moment)


def parse_filters(params: QueryParams | FormData) -> dict[str, Any]:
    """The filter fields of the audit page (query string or the export form)."""
    out: dict[str, Any] = {}
    for name in _TEXT_FILTERS:
        value = params.get(name)
        if isinstance(value, str) and value.strip():
            if len(value) > 256:
                raise InvalidInput(f"{name}: at most 256 characters")
            out[name] = value.strip()
    outcome = params.get("outcome")
    if isinstance(outcome, str) and outcome:
        if outcome not in OUTCOMES:
            raise InvalidInput("outcome: ok, denied or failed")
        out["outcome"] = outcome
    for name, end in (("since", False), ("until", True)):
        value = params.get(name)
        if isinstance(value, str) and value.strip():
            out[name] = _moment(value, name, end=end)
    return out


def _raw_filters(params: QueryParams | FormData) -> dict[str, str]:
    """The filters as typed, to fill the form and the paging links again."""
    names = (*_TEXT_FILTERS, "outcome", "since", "until")
    return {n: v.strip() for n in names if isinstance(v := params.get(n), str) and v.strip()}


def _before(params: QueryParams) -> int | None:
    raw = params.get("before")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise InvalidInput("before: a position in the trail")
    return int(raw)


async def _page(request: Request, who: Viewer, *, verification: dict[str, Any] | None = None
                ) -> Response:
    params = request.query_params
    filters = parse_filters(params)
    before = _before(params)
    audit = config_of(request).services.audit

    def load() -> tuple[list[Any], int | None]:
        rows = audit.log(who.principal, AuditQuery(
            **filters, before_seq=before, newest_first=True, limit=PAGE_SIZE + 1),
            request_id=who.request_id)
        newer = None
        if before is not None and rows:
            ahead = audit.log(who.principal, AuditQuery(
                **filters, after_seq=rows[0].seq, limit=PAGE_SIZE), request_id=who.request_id)
            newer = ahead[-1].seq + 1 if ahead else None
        return rows, newer

    rows, newer = await call(load)
    events = [r.to_dict() for r in rows[:PAGE_SIZE]]
    older = rows[PAGE_SIZE - 1].seq if len(rows) > PAGE_SIZE else None
    return render(request, "audit.html", who, events=events, filters=_raw_filters(params),
                  older=older, newer=newer, at_newest=before is None,
                  outcomes=OUTCOMES, verification=verification)


async def trail(request: Request) -> Response:
    return await _page(request, await viewer(request))


async def verify(request: Request) -> Response:
    who = await viewer(request)
    await checked_form(request, who)
    audit = config_of(request).services.audit
    try:
        report = await call(audit.verify, who.principal, request_id=who.request_id)
        result = {"ok": True, **report.to_dict()}
    except AuditChainBroken as exc:
        result = {"ok": False, "position": exc.position, "reason": exc.reason,
                  "message": exc.message}
    return await _page(request, who, verification=result)


async def export(request: Request) -> Response:
    """The filtered events as JSON lines, oldest first, as a download."""
    who = await viewer(request)
    form = await checked_form(request, who)
    filters = parse_filters(form)
    audit = config_of(request).services.audit
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024, mode="w+",  # noqa: SIM115
                                          encoding="utf-8")
    try:
        await call(audit.export, who.principal, AuditQuery(**filters, limit=None), spool,
                   request_id=who.request_id)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)

    def chunks() -> Iterator[bytes]:
        try:
            while block := spool.read(64 * 1024):
                yield block.encode("utf-8")
        finally:
            spool.close()

    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(chunks(), media_type="application/x-ndjson", headers={
        "Content-Disposition": f'attachment; filename="garrison-audit-{stamp}.jsonl"'})


ROUTES = [
    Route("/audit", trail, methods=["GET"]),
    Route("/audit/verify", verify, methods=["POST"]),
    Route("/audit/export", export, methods=["POST"]),
]
