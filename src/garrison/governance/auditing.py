"""Reading, verifying and exporting the audit trail, as audited workflows.

Verification reads everything it checks (head, checkpoints, records, incidents) from
one snapshot and only then records its own outcome: it never writes before it has
finished reading, and a concurrent append can never look like tampering.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import IO

from garrison.audit import (
    ACKNOWLEDGE_ACTION,
    QUARANTINE_ACTION,
    AuditQuery,
    AuditRecord,
    Checkpoint,
    Incident,
    VerifyReport,
    incidents_from,
    verify_chain,
)
from garrison.errors import AuditChainBroken, GarrisonError, InvalidInput, NotFound
from garrison.governance.guard import Guard
from garrison.governance.ports import AuditSnapshotView, UnitOfWork
from garrison.identity import Principal

__all__ = ["AuditService"]

log = logging.getLogger(__name__)


class AuditService:
    def __init__(
        self,
        store: UnitOfWork,
        guard: Guard,
        *,
        witness: Callable[[], list[Checkpoint]] = list,
    ) -> None:
        self._store = store
        self._guard = guard
        self._witness = witness

    def latest_seq(self, actions: Sequence[str]) -> int:
        """The seq of the newest successful event of ``actions`` (0 if none); unaudited.

        The gateway polls it to notice an audited account change (a revoked key).
        """
        return self._store.latest_seq(actions)

    def verify_unaudited(self) -> VerifyReport:
        """Verify the chain; raises :class:`AuditChainBroken` (benchmarks, startup checks).

        Records past the signed head are reported as ``inserted`` (they were never
        appended by Garrison: the head moves in the same transaction as every insert),
        and unacknowledged incidents as ``quarantined``.
        """
        witness = self._witness()
        with self._store.audit_snapshot() as snap:
            stored = snap.checkpoints()
            head = snap.head()
            seen = {(c.seq, c.hash) for c in stored}
            checkpoints = [*stored, *(c for c in witness if (c.seq, c.hash) not in seen)]
            report = verify_chain(
                snap.records(), verifier=self._store.signer, head=head,
                checkpoints=checkpoints, reload=lambda: list(snap.records()),
            )
            incidents = self._incidents(snap)
        report = dataclasses.replace(report, incidents=tuple(incidents))
        open_ = [i for i in incidents if not i.acknowledged]
        if open_:
            first = open_[0]
            raise AuditChainBroken(
                f"audit chain incident at position {first.position}: {first.describe()}; "
                f"acknowledge it with `garrison audit acknowledge {first.id}`",
                position=first.position, reason="quarantined", incident=first.id,
                incidents=[i.id for i in open_])
        return report

    @staticmethod
    def _incidents(snap: AuditSnapshotView) -> list[Incident]:
        events = [*snap.query(AuditQuery(action=QUARANTINE_ACTION, limit=None)),
                  *snap.query(AuditQuery(action=ACKNOWLEDGE_ACTION, limit=None))]
        return incidents_from(events)

    def verify(self, actor: Principal, *, request_id: str = "") -> VerifyReport:
        self._guard.require(actor, "verify-audit-log", request_id=request_id)
        try:
            report = self.verify_unaudited()
        except AuditChainBroken as exc:
            # Reading is over; recording may itself be refused (a chain whose signed head
            # is gone cannot be extended). The verdict stands either way.
            self._record_safely(actor, "failed", exc.reason, request_id,
                                {"position": exc.position, "message": exc.message[:500]}, exc)
            raise
        self._record_safely(actor, "ok", "", request_id,
                            {"events": report.events, "head_seq": report.head_seq}, None)
        return report

    def _record_safely(self, actor: Principal, outcome: str, reason: str, request_id: str,
                       payload: dict[str, object], verdict: AuditChainBroken | None) -> None:
        try:
            self._guard.record(actor, "verify-audit-log", outcome=outcome, reason=reason,
                               request_id=request_id, payload=payload)
        except GarrisonError as exc:
            log.error("the verification could not be recorded: %s (%s)", exc.message, exc.code)
            if verdict is None:
                raise
            verdict.detail["recorded"] = False

    def incidents(self, actor: Principal, *, request_id: str = "") -> list[Incident]:
        """Every incident recorded in the chain, acknowledged or not."""
        self._guard.require(actor, "view-audit-log", request_id=request_id)
        with self._store.audit_snapshot() as snap:
            return self._incidents(snap)

    def acknowledge(self, actor: Principal, incident_id: str, reason: str, *,
                    request_id: str = "") -> Incident:
        """Record that an admin has examined an incident (``acknowledge-audit-incident``)."""
        if not reason.strip():
            raise InvalidInput("say why the incident is acknowledged (--reason)")
        resource = f"incident:{incident_id[:100]}"
        self._guard.require(actor, ACKNOWLEDGE_ACTION, resource, request_id=request_id)

        def change(tx):
            with self._store.audit_snapshot() as snap:
                found = {i.id: i for i in self._incidents(snap)}
            incident = found.get(incident_id)
            if incident is None:
                raise NotFound(f"no incident {incident_id!r}")
            if incident.acknowledged:
                raise InvalidInput(f"incident {incident_id} was acknowledged by "
                                   f"{incident.acknowledged_by} at event "
                                   f"{incident.acknowledged_at}")
            return incident

        incident = self._guard.run(actor, ACKNOWLEDGE_ACTION, resource, change,
                                   authorize=False, request_id=request_id,
                                   payload={"reason": reason[:500]})
        return dataclasses.replace(incident, acknowledged_by=actor.name)

    def log(
        self, actor: Principal, query: AuditQuery, *, request_id: str = ""
    ) -> list[AuditRecord]:
        self._guard.require(actor, "view-audit-log", request_id=request_id)
        return self._store.query(query)

    def export(
        self, actor: Principal, query: AuditQuery, out: IO[str], *, request_id: str = ""
    ) -> int:
        """Write matching events as JSON lines; returns how many."""
        self._guard.require(actor, "export-audit-log", request_id=request_id)
        count = 0
        for record in self._iter(query):
            out.write(json.dumps(record.to_dict(), sort_keys=True, ensure_ascii=False) + "\n")
            count += 1
        self._guard.record(actor, "export-audit-log", request_id=request_id,
                           payload={"events": count})
        return count

    def _iter(self, query: AuditQuery) -> Iterator[AuditRecord]:
        after = query.after_seq
        remaining = query.limit
        while True:
            page = 5000 if remaining is None else min(5000, remaining)
            if page <= 0:
                return
            batch = self._store.query(replace(query, after_seq=after, limit=page,
                                              newest_first=False))
            if not batch:
                return
            yield from batch
            after = batch[-1].seq
            if remaining is not None:
                remaining -= len(batch)

    def checkpoint(self, actor: Principal, *, request_id: str = "") -> Checkpoint:
        def change(tx):
            return tx.audit.checkpoint()

        return self._guard.run(
            actor, "checkpoint-audit-log", "audit", change, request_id=request_id,
            result_payload=lambda cp: {"seq": cp.seq, "hash": cp.hash},
        )
