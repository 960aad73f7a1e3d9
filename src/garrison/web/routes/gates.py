"""Release-gate endpoints: the policy of a model, gate runs, reports and overrides.

Handlers parse, call the gate services in the thread pool and render; the services
authorize (approver role for the policy, admin for overrides) and audit every call.
A gate run evaluates the version in a sandboxed process and answers when it is done.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from garrison.errors import InvalidInput, NotFound
from garrison.gates.records import GateReport
from garrison.web._http import begin, path_name, path_version, read_json, reply
from garrison.web.openapi import Operation
from garrison.web.schemas_gates import (
    GateOverrideList,
    GateOverrideOut,
    GatePolicyIn,
    GatePolicyOut,
    GateReportOut,
    OverrideRequestBody,
)

__all__ = ["OPERATIONS"]

_MODEL = "/admin/models/{name}"
_VERSION = _MODEL + "/versions/{version}"


async def get_policy(request: Request) -> Response:
    """The model's current gate policy, verified (404 when it has none)."""
    call = await begin(request)
    name = path_name(request)
    record = await run_in_threadpool(call.services.gates.policy, call.principal, name,
                                     request_id=call.request_id)
    if record is None:
        raise NotFound(f"{name} has no gate policy")
    return reply(GatePolicyOut.model_validate(record.to_dict()))


async def put_policy(request: Request) -> Response:
    """Set the model's gate policy (approver role); signed and audited, a new revision."""
    call = await begin(request)
    name = path_name(request)
    body = await read_json(request, GatePolicyIn)
    record = await run_in_threadpool(call.services.gates.set_policy, call.principal, name,
                                     body.policy, request_id=call.request_id)
    return reply(GatePolicyOut.model_validate(record.to_dict()))


def _report_out(report: GateReport, envelope: bool) -> GateReportOut:
    return GateReportOut.model_validate(report.to_dict(envelope=envelope))


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "0")
    if raw not in ("0", "1", "true", "false"):
        raise InvalidInput(f"{name} must be 0 or 1")
    return raw in ("1", "true")


async def run_gate(request: Request) -> Response:
    """Run the release gate of the version in a sandboxed process and store the signed
    report; the answer is the report, passed or failed."""
    call = await begin(request)
    name, version = path_name(request), path_version(request)
    report = await run_in_threadpool(call.services.gates.run, call.principal, name, version,
                                     request_id=call.request_id)
    return reply(_report_out(report, False), status=201)


async def get_report(request: Request) -> Response:
    """The version's newest gate report, verified (`?envelope=1` adds the signed DSSE
    envelope); 409 when a stored report fails verification, 404 when there is none."""
    call = await begin(request)
    name, version = path_name(request), path_version(request)
    envelope = _flag(request, "envelope")
    report = await run_in_threadpool(call.services.gates.report, call.principal, name,
                                     version, request_id=call.request_id)
    if report is None:
        raise NotFound(f"{name}:{version} has no gate report")
    return reply(_report_out(report, envelope))


async def request_override(request: Request) -> Response:
    """Ask to let the version through its gate (admin, written reason); a second admin
    must approve it."""
    call = await begin(request)
    name, version = path_name(request), path_version(request)
    body = await read_json(request, OverrideRequestBody)
    found = await run_in_threadpool(call.services.gate_overrides.request, call.principal,
                                    name, version, body.reason, request_id=call.request_id)
    return reply(GateOverrideOut.model_validate(found.to_dict()), status=201)


async def list_overrides(request: Request) -> Response:
    """The model's gate overrides, newest first."""
    call = await begin(request)
    name = path_name(request)
    found = await run_in_threadpool(call.services.gate_overrides.list, call.principal, name,
                                    request_id=call.request_id)
    return reply(GateOverrideList(overrides=[GateOverrideOut.model_validate(o.to_dict())
                                             for o in found]))


async def approve_override(request: Request) -> Response:
    """Grant another admin's override (never one's own: 403 four-eyes-violation)."""
    call = await begin(request)
    found = await run_in_threadpool(call.services.gate_overrides.approve, call.principal,
                                    request.path_params["override"],
                                    request_id=call.request_id)
    return reply(GateOverrideOut.model_validate(found.to_dict()))


_CHANGE = (400, 401, 403, 404, 409, 413)
OPERATIONS: list[Operation] = [
    Operation("GET", _MODEL + "/gate-policy", get_policy, "getGatePolicy",
              "A model's gate policy", "gates", response=GatePolicyOut,
              errors=(400, 401, 403, 404, 409)),
    Operation("PUT", _MODEL + "/gate-policy", put_policy, "setGatePolicy",
              "Set a model's gate policy", "gates", body=GatePolicyIn, response=GatePolicyOut,
              errors=_CHANGE),
    Operation("POST", _VERSION + "/gate-runs", run_gate, "runGate",
              "Run a version's release gate", "gates", response=GateReportOut, status=201,
              errors=_CHANGE),
    Operation("GET", _VERSION + "/gate-report", get_report, "getGateReport",
              "A version's newest gate report", "gates", response=GateReportOut,
              errors=(400, 401, 403, 404, 409)),
    Operation("POST", _VERSION + "/gate-overrides", request_override, "requestGateOverride",
              "Ask for a gate override", "gates", body=OverrideRequestBody,
              response=GateOverrideOut, status=201, errors=_CHANGE),
    Operation("GET", _MODEL + "/gate-overrides", list_overrides, "listGateOverrides",
              "A model's gate overrides", "gates", response=GateOverrideList,
              errors=(400, 401, 403, 404, 409)),
    Operation("POST", "/admin/gate-overrides/{override}/approve", approve_override,
              "approveGateOverride", "Grant a gate override (second admin)", "gates",
              response=GateOverrideOut, errors=_CHANGE),
]
