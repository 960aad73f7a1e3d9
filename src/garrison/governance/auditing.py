"""Reading, verifying and exporting the audit trail, as audited workflows."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import IO

from garrison.audit import AuditQuery, AuditRecord, Checkpoint, VerifyReport, verify_chain
from garrison.errors import AuditChainBroken
from garrison.governance.guard import Guard
from garrison.governance.ports import UnitOfWork
from garrison.identity import Principal

__all__ = ["AuditService"]


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
        """Verify the chain; raises :class:`AuditChainBroken` (benchmarks, startup checks)."""
        # Order matters with concurrent writers: everything read before the head is at or
        # below it unless the log was cut; records appended after it are left for next time.
        witness = self._witness()
        stored = self._store.checkpoints()
        head = self._store.head()
        until = head.seq if head is not None else None
        seen = {(c.seq, c.hash) for c in stored}
        checkpoints = [*stored, *(c for c in witness if (c.seq, c.hash) not in seen)]
        return verify_chain(
            self._store.records(until_seq=until) if until is not None
            else self._store.records(),
            verifier=self._store.signer,
            head=head,
            checkpoints=checkpoints,
            reload=lambda: list(self._store.records()),
        )

    def verify(self, actor: Principal, *, request_id: str = "") -> VerifyReport:
        self._guard.require(actor, "verify-audit-log", request_id=request_id)
        try:
            report = self.verify_unaudited()
        except AuditChainBroken as exc:
            self._guard.record(
                actor, "verify-audit-log", outcome="failed", reason=exc.reason,
                request_id=request_id, payload={"position": exc.position},
            )
            raise
        self._guard.record(
            actor, "verify-audit-log", request_id=request_id,
            payload={"events": report.events, "head_seq": report.head_seq},
        )
        return report

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
            batch = self._store.query(
                AuditQuery(actor=query.actor, action=query.action, outcome=query.outcome,
                           resource=query.resource, since=query.since, until=query.until,
                           request_id=query.request_id, after_seq=after, limit=page)
            )
            if not batch:
                return
            yield from batch
            after = batch[-1].seq
            if remaining is not None:
                remaining -= len(batch)

    def checkpoint(self, actor: Principal, *, request_id: str = "") -> Checkpoint:
        def change(tx):  # type: ignore[no-untyped-def]
            return tx.audit.checkpoint()

        return self._guard.run(
            actor, "checkpoint-audit-log", "audit", change, request_id=request_id,
            result_payload=lambda cp: {"seq": cp.seq, "hash": cp.hash},
        )
