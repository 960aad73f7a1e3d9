"""Gate overrides: an admin lets a version through a failed gate, and a second admin agrees.

``request`` records who asks, why (a written reason is required) and for exactly which
artifact and policy (their digests, and the digest of the failing report if there is
one), signed. ``approve`` by a *different* admin signs an approval naming the request's
digest. Only an approved override whose signatures verify and which names the version's
artifact digest and the model's *current* policy digest counts at approval and
promotion: a new artifact or a new policy needs a new override. Every step is audited.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from garrison.audit import AuditDraft
from garrison.errors import (
    Conflict,
    FourEyesViolation,
    GarrisonError,
    IntegrityFailure,
    InvalidInput,
    NotFound,
)
from garrison.gates.ports import GateStore
from garrison.gates.records import GateOverride, OverrideRow
from garrison.gates.report import (
    OVERRIDE_PAYLOAD_TYPE,
    envelope_sha256,
    sign_document,
    verify_document,
)
from garrison.gates.service import GateService
from garrison.governance import Guard
from garrison.identity import Principal
from garrison.registry import ModelVersion
from garrison.signing import Keyring
from garrison.types import Clock, utc_iso

__all__ = ["MIN_REASON", "OverrideDesk"]

#: The shortest written reason an override takes (characters, not counting spaces).
MIN_REASON = 20


class OverrideDesk:
    def __init__(self, gates: GateService, store: GateStore, keyring: Keyring, guard: Guard,
                 clock: Clock) -> None:
        self._gates = gates
        self._store = store
        self._keyring = keyring
        self._guard = guard
        self._clock = clock

    def _now(self) -> str:
        return utc_iso(self._clock.now())

    def _failing(self, actor: Principal, action: str, resource: str, request_id: str,
                 exc: GarrisonError) -> None:
        self._guard.record_failure(actor, action, exc, resource=resource,
                                   request_id=request_id)

    def request(self, actor: Principal, name: str, version: int, reason: str, *,
                request_id: str = "") -> GateOverride:
        """Ask to let ``name:version`` through its gate under the current policy."""
        gates = self._gates
        resource = f"model:{name}:{version}"
        self._guard.require(actor, "request-gate-override", resource, request_id=request_id)
        try:
            # Counted as the API schema counts (its pattern): spaces and line breaks aside.
            if len(re.sub(r"[ \t\r\n]", "", reason or "")) < MIN_REASON:
                raise InvalidInput(f"an override needs a written reason of at least "
                                   f"{MIN_REASON} characters (not counting spaces)")
            why = " ".join(reason.split())
            v = gates.registry.get(name, version)
            policy = gates.current_policy(name)
            if policy is None:
                raise NotFound(f"{name} has no gate policy, so there is no gate to override")
            report = gates.latest_report(v)
            body: dict[str, Any] = {"kind": "request", "id": str(uuid.uuid4()), "model": name,
                    "version": version, "artifact_sha256": v.digest,
                    "policy_digest": policy.digest,
                    "report_sha256": report.sha256 if report is not None else "",
                    "reason": why[:2000], "requested_by": actor.name,
                    "requested_at": self._now()}
            row = OverrideRow(id=body["id"], model=name, version=version,
                              created=body["requested_at"], requested_by=actor.name,
                              request=sign_document(self._keyring, OVERRIDE_PAYLOAD_TYPE, body))
            with self._store.write() as tx:
                tx.gates.add_override(row)
                tx.audit.append(AuditDraft(
                    action="request-gate-override", actor=actor.name, resource=resource,
                    request_id=request_id,
                    payload={"override": row.id, "reason": why[:500],
                             "sha256": v.digest, "policy_digest": policy.digest,
                             "report_sha256": body["report_sha256"]}))
            return self._verified(row)
        except GarrisonError as exc:
            self._failing(actor, "request-gate-override", resource, request_id, exc)
            raise

    def approve(self, actor: Principal, override_id: str, *,
                request_id: str = "") -> GateOverride:
        """Grant another admin's override request; never one's own (four eyes)."""
        resource = f"gate-override:{str(override_id)[:64]}"
        self._guard.require(actor, "approve-gate-override", resource, request_id=request_id)
        try:
            # Verified outside the write: a tamper alarm writes an alert of its own.
            with self._store.read() as tx:
                row = tx.gates.get_override(str(override_id))
            if row is None:
                raise NotFound(f"no gate override {str(override_id)[:64]!r}")
            pending = self._verified(row)
            resource = f"model:{pending.model}:{pending.version}"
            if pending.requested_by == actor.name:
                raise FourEyesViolation("the admin who asked for an override cannot "
                                        "grant it; a second admin must",
                                        requested_by=pending.requested_by)
            if pending.approved:
                raise Conflict(f"override {pending.id} is already approved by "
                               f"{pending.approved_by}")
            approving: dict[str, Any] = {"kind": "approval", "id": row.id,
                                         "request_sha256": envelope_sha256(row.request),
                                         "approved_by": actor.name, "approved_at": self._now()}
            approval = sign_document(self._keyring, OVERRIDE_PAYLOAD_TYPE, approving)
            with self._store.write() as tx:
                current = tx.gates.get_override(row.id)
                if current is None or current.request != row.request or \
                        not tx.gates.approve_override(row.id, actor.name,
                                                      approving["approved_at"], approval):
                    raise Conflict(f"override {row.id} changed or was approved meanwhile")
                tx.audit.append(AuditDraft(
                    action="approve-gate-override", actor=actor.name, resource=resource,
                    request_id=request_id,
                    payload={"override": row.id, "requested_by": pending.requested_by,
                             "sha256": pending.artifact_digest,
                             "policy_digest": pending.policy_digest}))
            return self._verified(OverrideRow(
                id=row.id, model=row.model, version=row.version, created=row.created,
                requested_by=row.requested_by, request=row.request,
                approved_by=actor.name, approved_at=approving["approved_at"],
                approval=approval))
        except GarrisonError as exc:
            self._failing(actor, "approve-gate-override", resource, request_id, exc)
            raise

    def list(self, actor: Principal, name: str, version: int | None = None, *,
             request_id: str = "") -> list[GateOverride]:
        """The model's (or version's) overrides, newest first, verified."""
        resource = f"model:{name}" + (f":{version}" if version is not None else "")
        self._guard.require(actor, "view-gate", resource, request_id=request_id)
        with self._store.read() as tx:
            rows = tx.gates.overrides(name, version)
        return [self._verified(r) for r in rows]

    def granted(self, v: ModelVersion, policy_digest: str) -> GateOverride | None:
        """An approved override for exactly ``v``'s artifact under ``policy_digest``."""
        with self._store.read() as tx:
            rows = tx.gates.overrides(v.name, v.version)
        for row in rows:
            found = self._verified(row)
            if (found.approved and found.artifact_digest == v.digest
                    and found.policy_digest == policy_digest):
                return found
        return None

    def _verified(self, row: OverrideRow) -> GateOverride:
        keyring = self._keyring
        try:
            request = verify_document(keyring, row.request, OVERRIDE_PAYLOAD_TYPE,
                                      {"kind": "request", "id": row.id, "model": row.model,
                                       "version": row.version})
            approved: dict[str, Any] = {}
            if row.approval is not None:
                approved = verify_document(keyring, row.approval, OVERRIDE_PAYLOAD_TYPE,
                                           {"kind": "approval", "id": row.id,
                                            "request_sha256": envelope_sha256(row.request)})
                if approved.get("approved_by") == request.get("requested_by"):
                    raise IntegrityFailure("an override approved by its own requester")
        except GarrisonError as exc:
            if self._gates.on_tamper is not None:
                self._gates.on_tamper("gate-override-tampered", {
                    "resource": f"model:{row.model}:{row.version}", "reason": exc.code,
                    "message": exc.message})
            raise IntegrityFailure(f"gate override {row.id} failed verification: "
                                   f"{exc.message}", reason=exc.code) from exc
        return GateOverride(
            id=row.id, model=row.model, version=row.version,
            artifact_digest=str(request.get("artifact_sha256", "")),
            policy_digest=str(request.get("policy_digest", "")),
            report_sha256=str(request.get("report_sha256", "")),
            reason=str(request.get("reason", "")),
            requested_by=str(request.get("requested_by", "")),
            requested_at=str(request.get("requested_at", "")),
            approved_by=str(approved["approved_by"]) if approved else None,
            approved_at=str(approved.get("approved_at", "")) if approved else None)
