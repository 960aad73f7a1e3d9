"""Handler plumbing: the services a handler needs, authentication, parsing and replies.

A handler parses (path, query, body), calls a synchronous service in the thread
pool, and renders a pydantic model; every failure on the way is a
:class:`~garrison.errors.GarrisonError` that ``web.errors`` turns into the canonical
answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from garrison.config import Settings
from garrison.errors import AuthenticationFailed, InvalidInput
from garrison.gates.overrides import OverrideDesk
from garrison.gates.service import GateService
from garrison.governance import AccountService, AuditService, Guard
from garrison.governance.state import StateAudit
from garrison.identity import Principal
from garrison.registry import RegistryService, validate_model_name
from garrison.serving.decision_service import DecisionService
from garrison.web.errors import request_id_of

__all__ = [
    "AdminConfig",
    "AdminServices",
    "Call",
    "begin",
    "media_type",
    "path_name",
    "path_version",
    "read_json",
    "read_query",
    "reply",
    "validate",
]

M = TypeVar("M", bound=BaseModel)
_VERSION = re.compile(r"^[1-9][0-9]{0,8}$")


class AdminServices(Protocol):
    """What the admin API needs from ``garrison.app.Services`` (it must not import it)."""

    settings: Settings
    guard: Guard
    accounts: AccountService
    audit: AuditService
    registry: RegistryService
    decisions: DecisionService
    gates: GateService
    gate_overrides: OverrideDesk

    @property
    def state(self) -> StateAudit: ...


@dataclass(frozen=True)
class AdminConfig:
    services: AdminServices
    max_body_bytes: int
    max_upload_bytes: int
    upload_dir: Path


@dataclass(frozen=True)
class Call:
    """One authenticated request: who, which request id, and the services."""

    principal: Principal
    request_id: str
    config: AdminConfig

    @property
    def services(self) -> AdminServices:
        return self.config.services


def config_of(request: Request) -> AdminConfig:
    config: AdminConfig = request.app.state.garrison
    return config


async def begin(request: Request) -> Call:
    """Authenticate the bearer key.

    No ``Authorization`` header: 401 without an audit event (nothing was presented).
    Anything presented goes to the account service, which records every failure.
    """
    config = config_of(request)
    rid = request_id_of(request)
    header = request.headers.get("authorization")
    if header is None:
        raise AuthenticationFailed("authentication failed", why="missing-credentials")
    scheme, _, token = header.partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    principal = await run_in_threadpool(config.services.accounts.authenticate, token,
                                        request_id=rid)
    request.scope["state"]["principal"] = principal.name
    return Call(principal=principal, request_id=rid, config=config)


def path_name(request: Request) -> str:
    return validate_model_name(request.path_params["name"])


def path_version(request: Request) -> int:
    raw = request.path_params["version"]
    if not _VERSION.fullmatch(raw):
        raise InvalidInput("the version must be a positive integer")
    return int(raw)


def validate(model: type[M], data: Any, where: str) -> M:
    """Pydantic validation as ``InvalidInput``; the message names fields, never values."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors(include_url=False, include_input=False)[:5]
        )
        raise InvalidInput(f"invalid {where}: {problems}") from exc


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def parse_json(raw: bytes | str, where: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"the {where} is not valid JSON") from exc


async def read_json(request: Request, model: type[M]) -> M:
    """The JSON body as ``model``; an empty body means the model's defaults."""
    raw = await request.body()
    if not raw.strip():
        return validate(model, {}, "request body")
    if media_type(request) != "application/json":
        raise InvalidInput("send the body as JSON with Content-Type: application/json")
    return validate(model, parse_json(raw, "request body"), "request body")


def read_query(request: Request, model: type[M]) -> M:
    items = request.query_params.multi_items()
    keys = [k for k, _ in items]
    if len(keys) != len(set(keys)):
        raise InvalidInput("a query parameter is repeated")
    return validate(model, dict(items), "query")


def reply(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Render a response model with pydantic's serializer (non-finite floats become null)."""
    return Response(model.model_dump_json(exclude_none=False), status_code=status,
                    headers=headers, media_type="application/json")
