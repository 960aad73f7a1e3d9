"""Accounts and keys (admin): principals and roles, API keys (a new key's secret is
shown once, on the answer to the form that created it, and stored nowhere), key
revocation, and the console sessions that are open."""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from garrison.authz import ROLES
from garrison.errors import InvalidInput
from garrison.governance.accounts import MAX_KEY_DAYS
from garrison.identity import validate_name
from garrison.web.console.context import Viewer, call, checked_form, config_of, render, viewer

__all__ = ["ROUTES"]

_PREFIX = re.compile(r"^[0-9a-f]{12}$")
_NOTICES = {
    "created": "Principal created.", "granted": "Role granted.", "revoked-role": "Role revoked.",
    "disabled": "Principal disabled: their keys and console sessions stopped working.",
    "enabled": "Principal enabled.", "revoked-key": "Key revoked: it stopped working at once.",
    "signed-out": "Their console sessions were signed out.",
}


async def _page(request: Request, who: Viewer, *, status: int = 200,
                new_key: Any = None) -> Response:
    services = config_of(request).services

    def load() -> dict[str, Any]:
        keys = services.accounts.list_keys(who.principal)
        principals = services.accounts.list_principals(who.principal)
        sessions = services.sessions.active(who.principal)
        return {"keys": keys, "principals": principals, "sessions": sessions}

    data = await call(load)
    owners = {p.id: p.name for p in data["principals"]}
    return render(request, "accounts.html", who, status=status, owners=owners,
                  roles=list(ROLES), max_days=MAX_KEY_DAYS, new_key=new_key,
                  notice=_NOTICES.get(request.query_params.get("done", ""), ""), **data)


async def accounts(request: Request) -> Response:
    return await _page(request, await viewer(request))


def _field(form: FormData, name: str, *, limit: int = 128) -> str:
    value = form.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > limit:
        raise InvalidInput(f"{name}: at most {limit} characters")
    return text


def _done(code: str) -> Response:
    return RedirectResponse(f"/console/accounts?done={code}", status_code=303)


async def create_principal(request: Request) -> Response:
    who = await viewer(request)
    form = await checked_form(request, who)
    roles = [r for r in form.getlist("roles") if isinstance(r, str)]
    kind = _field(form, "kind") or "human"
    await call(config_of(request).services.accounts.create_principal, who.principal,
               _field(form, "name", limit=64), kind=kind, roles=roles,
               request_id=who.request_id)
    return _done("created")


async def change_role(request: Request) -> Response:
    who = await viewer(request)
    form = await checked_form(request, who)
    name = validate_name(request.path_params["name"])
    accounts_service = config_of(request).services.accounts
    role = _field(form, "role")
    if form.get("op") == "grant":
        await call(accounts_service.grant_role, who.principal, name, role,
                   request_id=who.request_id)
        return _done("granted")
    if form.get("op") == "revoke":
        await call(accounts_service.revoke_role, who.principal, name, role,
                   request_id=who.request_id)
        return _done("revoked-role")
    raise InvalidInput("op: grant or revoke")


async def set_disabled(request: Request) -> Response:
    who = await viewer(request)
    await checked_form(request, who)
    name = validate_name(request.path_params["name"])
    disabled = request.url.path.endswith("/disable")
    await call(config_of(request).services.accounts.set_disabled, who.principal, name,
               disabled, request_id=who.request_id)
    return _done("disabled" if disabled else "enabled")


async def close_sessions(request: Request) -> Response:
    who = await viewer(request)
    await checked_form(request, who)
    name = validate_name(request.path_params["name"])
    await call(config_of(request).services.sessions.close_all, who.principal, name,
               request_id=who.request_id)
    return _done("signed-out")


async def create_key(request: Request) -> Response:
    """The answer to this form is the only place the new key's secret ever appears."""
    who = await viewer(request)
    form = await checked_form(request, who)
    owner = validate_name(_field(form, "owner", limit=64))
    raw_days = _field(form, "days", limit=8)
    if raw_days and not raw_days.isdigit():
        raise InvalidInput(f"days: a whole number from 1 to {MAX_KEY_DAYS}")
    days = int(raw_days) if raw_days else None
    new = await call(config_of(request).services.accounts.create_key, who.principal, owner,
                     name=_field(form, "name") or "console", days=days,
                     request_id=who.request_id)
    return await _page(request, who, status=201, new_key={
        "secret": new.secret, "owner": owner, "prefix": new.record.prefix,
        "expires": new.record.expires, "name": new.record.name})


async def revoke_key(request: Request) -> Response:
    who = await viewer(request)
    await checked_form(request, who)
    prefix = request.path_params["prefix"]
    if not _PREFIX.fullmatch(prefix):
        raise InvalidInput("not a key prefix")
    await call(config_of(request).services.accounts.revoke_key, who.principal, prefix,
               request_id=who.request_id)
    return _done("revoked-key")


ROUTES = [
    Route("/accounts", accounts, methods=["GET"]),
    Route("/accounts/principals", create_principal, methods=["POST"]),
    Route("/accounts/principals/{name}/roles", change_role, methods=["POST"]),
    Route("/accounts/principals/{name}/disable", set_disabled, methods=["POST"]),
    Route("/accounts/principals/{name}/enable", set_disabled, methods=["POST"]),
    Route("/accounts/principals/{name}/sessions/close", close_sessions, methods=["POST"]),
    Route("/accounts/keys", create_key, methods=["POST"]),
    Route("/accounts/keys/{prefix}/revoke", revoke_key, methods=["POST"]),
]
