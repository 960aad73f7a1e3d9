"""Models: every model and its versions, one model's timeline and serving policy, one
version's review, and rollback behind a confirmation page."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from garrison.errors import InvalidInput, ModelNotFound
from garrison.registry import ModelVersion
from garrison.web._http import path_name, path_version
from garrison.web.console.approvals import notice_of, reason_of, shadow_agreements
from garrison.web.console.context import call, checked_form, config_of, render, viewer

__all__ = ["ROUTES"]


def _summaries(versions: list[ModelVersion]) -> list[dict[str, object]]:
    out = []
    for name, group in groupby(sorted(versions, key=lambda v: (v.name, v.version)),
                               key=lambda v: v.name):
        items = list(group)
        production = [v for v in items if v.stage == "production"]
        out.append({
            "name": name, "versions": len(items), "latest": items[-1],
            "production": production[-1] if production else None,
            "waiting": sum(1 for v in items if v.stage == "registered"),
        })
    return out


async def model_list(request: Request) -> Response:
    who = await viewer(request)
    versions = await call(config_of(request).services.registry.list_versions, who.principal)
    return render(request, "models.html", who, models=_summaries(versions))


async def model_detail(request: Request) -> Response:
    who = await viewer(request)
    name = path_name(request)
    services = config_of(request).services

    def load() -> dict[str, Any]:
        versions = services.registry.list_versions(who.principal, name)
        history = services.registry.history(who.principal, name)
        policy = services.deployments.show(who.principal, name, request_id=who.request_id)
        return {"versions": list(reversed(versions)), "history": list(reversed(history)),
                "policy": policy}

    data = await call(load)
    if not data["versions"]:
        raise ModelNotFound("there is no model with that name")
    return render(request, "model.html", who, name=name, notice=notice_of(request), **data)


async def version_detail(request: Request) -> Response:
    who = await viewer(request)
    name, version = path_name(request), path_version(request)
    services = config_of(request).services

    def load() -> dict[str, Any]:
        review = services.registry.review(who.principal, name, version)
        history = [t for t in services.registry.history(who.principal, name)
                   if t.version == version]
        shadow = shadow_agreements(services, who, [review.candidate]) \
            if who.may("view-shadow-report", f"model:{name}") else {}
        return {"review": review, "history": list(reversed(history)), "shadow": shadow}

    data = await call(load)
    return render(request, "version.html", who, notice=notice_of(request), **data)


async def rollback_confirm(request: Request) -> Response:
    """The confirmation page: what serves now and what would serve after the rollback."""
    who = await viewer(request)
    name = path_name(request)
    versions = await call(config_of(request).services.registry.list_versions, who.principal, name)
    current = [v for v in versions if v.stage == "production"]
    return render(request, "rollback.html", who, name=name,
                  current=current[-1] if current else None)


async def rollback(request: Request) -> Response:
    who = await viewer(request)
    form = await checked_form(request, who)
    name = path_name(request)
    if form.get("confirm") != "yes":
        raise InvalidInput("tick the confirmation box to roll back")
    registry = config_of(request).services.registry
    await call(registry.rollback, who.principal, name, reason_of(form),
               request_id=who.request_id)
    return RedirectResponse(f"/console/models/{name}?done=rolled-back", status_code=303)


ROUTES = [
    Route("/models", model_list, methods=["GET"]),
    Route("/models/{name}", model_detail, methods=["GET"]),
    Route("/models/{name}/versions/{version}", version_detail, methods=["GET"]),
    Route("/models/{name}/rollback", rollback_confirm, methods=["GET"]),
    Route("/models/{name}/rollback", rollback, methods=["POST"]),
]
