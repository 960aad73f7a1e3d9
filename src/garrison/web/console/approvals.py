"""The approvals queue and the lifecycle forms (approve, reject, promote, rollback).

The queue and every review come from ``RegistryService.approval_queue``; each form
calls the registry's own transition, which checks the role table, four eyes and the
stage rules and audits the change. A form asks for a written reason and sends the
person back to the page it came from (one of a fixed set: no open redirect).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from garrison.errors import InvalidInput
from garrison.registry import ModelVersion
from garrison.web._http import path_name, path_version
from garrison.web.console.context import (
    Viewer,
    call,
    checked_form,
    config_of,
    render,
    viewer,
)

__all__ = ["ROUTES", "back_to", "notice_of", "reason_of", "shadow_agreements"]

_REASON_MAX = 500


def reason_of(form: object, *, required: bool = True) -> str:
    value = form.get("reason") if hasattr(form, "get") else None
    reason = value.strip() if isinstance(value, str) else ""
    if required and not reason:
        raise InvalidInput("write a reason: it is kept in the audit trail with your name")
    if len(reason) > _REASON_MAX:
        raise InvalidInput(f"the reason may be at most {_REASON_MAX} characters")
    return reason


def back_to(form: object, name: str, done: str) -> str:
    """Where a form returns: the queue or the model's page (never a client-given URL)."""
    where = form.get("back") if hasattr(form, "get") else None
    base = "/console/approvals" if where == "approvals" else f"/console/models/{name}"
    return f"{base}?done={done}"


async def queue(request: Request) -> Response:
    who = await viewer(request)
    services = config_of(request).services
    reviews, promotable = await call(services.registry.approval_queue, who.principal)
    shadow = await call(shadow_agreements, services, who,
                        [r.candidate for r in reviews] + promotable)
    return render(request, "approvals.html", who, reviews=reviews, promotable=promotable,
                  shadow=shadow, notice=notice_of(request))


def shadow_agreements(services: Any, who: Viewer, versions: list[ModelVersion]
                      ) -> dict[str, dict[str, Any]]:
    """How each version agreed with production while it ran in shadow, by ``name:version``
    (versions that never ran in shadow are left out)."""
    out: dict[str, dict[str, Any]] = {}
    for v in versions:
        report = services.shadows.report(who.principal, v.name, version=v.version,
                                         request_id=who.request_id)
        if report.requests:
            out[v.ref] = {"agreement": report.agreement, "compared": report.compared_requests,
                          "requests": report.requests, "errors": report.shadow_errors,
                          "first": report.first, "last": report.last}
    return out


_NOTICES = {
    "approved": "Version approved. It can now be promoted.",
    "rejected": "Version rejected.",
    "promoted": "Version promoted.",
    "retired": "Version retired.",
    "rolled-back": "Rolled back: the previous production version serves again.",
}


def notice_of(request: Request) -> str:
    return _NOTICES.get(request.query_params.get("done", ""), "")


def _transition(method: str, done: str):
    async def handler(request: Request) -> Response:
        who = await viewer(request)
        form = await checked_form(request, who)
        name, version = path_name(request), path_version(request)
        reason = reason_of(form)
        registry = config_of(request).services.registry
        if method == "promote":
            stage = form.get("stage")
            if stage not in ("production", "shadow"):
                raise InvalidInput("promote to production or shadow")
            await call(registry.promote, who.principal, name, version, str(stage), reason,
                       request_id=who.request_id)
        else:
            await call(getattr(registry, method), who.principal, name, version, reason,
                       request_id=who.request_id)
        return RedirectResponse(back_to(form, name, done), status_code=303)

    handler.__name__ = f"{method}_version"
    return handler


ROUTES = [
    Route("/approvals", queue, methods=["GET"]),
    Route("/models/{name}/versions/{version}/approve", _transition("approve", "approved"),
          methods=["POST"]),
    Route("/models/{name}/versions/{version}/reject", _transition("reject", "rejected"),
          methods=["POST"]),
    Route("/models/{name}/versions/{version}/promote", _transition("promote", "promoted"),
          methods=["POST"]),
    Route("/models/{name}/versions/{version}/retire", _transition("retire", "retired"),
          methods=["POST"]),
]
