"""Audit trail endpoints (read-only): filtered events and chain verification.

``POST /admin/audit/verify`` answers 200 with the counts when the chain is intact and
409 ``audit-chain-broken`` (with ``position`` and ``reason`` in the error object) when
it is not. It is a POST because every verification is itself recorded in the trail.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from garrison.audit import AuditQuery
from garrison.web._http import begin, read_json, read_query, reply
from garrison.web.openapi import Operation
from garrison.web.schemas import (
    AcknowledgeBody,
    AuditEventList,
    AuditEventOut,
    AuditEventsQuery,
    AuditVerifyOut,
    DecisionsCheckBody,
    DecisionsCheckOut,
    IncidentList,
    IncidentOut,
    StateReportOut,
)

__all__ = ["OPERATIONS"]


async def list_events(request: Request) -> Response:
    """Audit events, oldest first, filtered; page with `after_seq` = `next_after_seq`."""
    call = await begin(request)
    q = read_query(request, AuditEventsQuery)
    query = AuditQuery(actor=q.actor, action=q.action, outcome=q.outcome, resource=q.resource,
                       since=q.since, until=q.until, request_id=q.request_id,
                       after_seq=q.after_seq, limit=q.limit)
    records = await run_in_threadpool(call.services.audit.log, call.principal, query,
                                      request_id=call.request_id)
    events = [AuditEventOut.model_validate(r.to_dict()) for r in records]
    more = len(events) == q.limit
    return reply(AuditEventList(events=events,
                                next_after_seq=events[-1].seq if more and events else None))


async def verify_chain(request: Request) -> Response:
    """Check every event's hash, the chain links, the signed head and the checkpoints.
    409 `audit-chain-broken` names the first bad position and the reason."""
    call = await begin(request)
    report = await run_in_threadpool(call.services.audit.verify, call.principal,
                                     request_id=call.request_id)
    return reply(AuditVerifyOut.model_validate(report.to_dict()))


async def check_state(request: Request) -> Response:
    """Reconcile principals, API keys, model stages and deployment policies with the signed
    audit trail (`garrison audit state`): `ok` is false when any of it was written or
    changed outside Garrison; such state is refused wherever it would grant power."""
    call = await begin(request)
    report = await run_in_threadpool(call.services.state.reconcile, call.principal,
                                     request_id=call.request_id)
    return reply(StateReportOut.model_validate(report.to_dict()))


async def list_incidents(request: Request) -> Response:
    """Tampering Garrison found and recorded (e.g. records forged past the signed head and
    moved to quarantine), with who acknowledged each."""
    call = await begin(request)
    incidents = await run_in_threadpool(call.services.audit.incidents, call.principal,
                                        request_id=call.request_id)
    return reply(IncidentList(incidents=[IncidentOut.model_validate(i.to_dict())
                                         for i in incidents]))


async def acknowledge_incident(request: Request) -> Response:
    """Record that an admin examined an incident; `verify` stops failing for it."""
    call = await begin(request)
    incident_id = request.path_params["incident"]
    body = await read_json(request, AcknowledgeBody)
    incident = await run_in_threadpool(call.services.audit.acknowledge, call.principal,
                                       incident_id, body.reason, request_id=call.request_id)
    return reply(IncidentOut.model_validate(incident.to_dict()))


async def check_decisions(request: Request) -> Response:
    """Recompute every decision batch's digest and account for every answered prediction:
    `ok` is false when a record was changed, deleted or added, or when records were
    dropped, are missing, or a gateway worker stopped without closing its log."""
    call = await begin(request)
    body = await read_json(request, DecisionsCheckBody)
    report = await run_in_threadpool(call.services.decisions.verify, call.principal,
                                     body.request_id, since=body.since,
                                     audit_request_id=call.request_id)
    return reply(DecisionsCheckOut.model_validate(report.to_dict()))


OPERATIONS: list[Operation] = [
    Operation("GET", "/admin/audit/events", list_events, "listAuditEvents", "Read audit events",
              "audit", query=AuditEventsQuery, response=AuditEventList, errors=(400, 401, 403)),
    Operation("POST", "/admin/audit/verify", verify_chain, "verifyAuditChain",
              "Verify the audit chain", "audit", response=AuditVerifyOut,
              errors=(401, 403, 409)),
    Operation("POST", "/admin/audit/decisions", check_decisions, "checkDecisionRecords",
              "Check decision records", "audit", body=DecisionsCheckBody,
              response=DecisionsCheckOut, errors=(400, 401, 403, 404)),
    Operation("POST", "/admin/audit/state", check_state, "checkGovernanceState",
              "Check governance state against the audit trail", "audit",
              response=StateReportOut, errors=(401, 403)),
    Operation("GET", "/admin/audit/incidents", list_incidents, "listAuditIncidents",
              "List audit incidents", "audit", response=IncidentList, errors=(401, 403)),
    Operation("POST", "/admin/audit/incidents/{incident}/acknowledge", acknowledge_incident,
              "acknowledgeAuditIncident", "Acknowledge an audit incident", "audit",
              body=AcknowledgeBody, response=IncidentOut, errors=(400, 401, 403, 404)),
]
