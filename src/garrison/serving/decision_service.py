"""Decision records as a service: the writer's sink, lookups and the integrity check.

``record_batch`` finishes a batch on the writer thread (arrays to lists, inputs kept
as each deployment's policy says, pseudonymized inputs keyed by the installation's
pseudonymization key) and stores it anchored by one audit event. ``fetch`` is the
gateway's ``GET /v1/decisions/{id}``; ``verify`` is ``garrison audit decisions``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from garrison.authz import Subject, require
from garrison.errors import IntegrityFailure
from garrison.governance import Guard
from garrison.identity import Principal
from garrison.serving.decisions import DecisionRecord, settle
from garrison.serving.ports import DecisionStore

__all__ = ["DECISION_INPUTS_PURPOSE", "BatchProblem", "DecisionService", "DecisionsReport"]

log = logging.getLogger("garrison.serving.decisions")

#: The purpose the digests of pseudonymized decision inputs are bound to.
DECISION_INPUTS_PURPOSE = "garrison-decision-inputs-v1"


@dataclass(frozen=True)
class BatchProblem:
    reason: str  # batch-mismatch, not-an-anchor, unanchored
    anchor_seq: int | None = None
    request_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "anchor_seq": self.anchor_seq,
                "request_id": self.request_id}


@dataclass(frozen=True)
class DecisionsReport:
    batches: int
    records: int
    problems: list[BatchProblem] = field(default_factory=list)
    #: One record checked and intact: the audit event that anchors its batch.
    anchor_seq: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        out = {"ok": self.ok, "batches": self.batches, "records": self.records,
               "problems": [p.to_dict() for p in self.problems]}
        if self.anchor_seq is not None:
            out["anchor_seq"] = self.anchor_seq
        return out


class DecisionService:
    def __init__(self, store: DecisionStore, guard: Guard, *,
                 input_hasher: Callable[[], Callable[[bytes], str]]) -> None:
        """``input_hasher`` loads the keyed hash for pseudonymized inputs on first use."""
        self._store = store
        self._guard = guard
        self._load_hasher = input_hasher
        self._hasher: Callable[[bytes], str] | None = None

    # -- writing (the gateway's decisions writer) ------------------------------------
    def prepare(self) -> None:
        """Load the input key now: a gateway worker refuses to start with a bad key file
        rather than lose its first batch of records."""
        if self._hasher is None:
            self._hasher = self._load_hasher()

    def _pseudonymize(self, rows: list[Any]) -> list[str]:
        self.prepare()
        assert self._hasher is not None
        digest = self._hasher
        return [digest(json.dumps(r, separators=(",", ":")).encode()) for r in rows]

    def record_batch(self, records: list[DecisionRecord]) -> None:
        """Finish and store one batch, anchored by one audit event."""
        self._store.add_many(settle(records, self._pseudonymize))

    # -- reading ----------------------------------------------------------------------
    def fetch(self, actor: Subject, request_id: str) -> dict[str, Any]:
        """The record and, under ``integrity``, whether its batch still matches its anchor.

        A failed check is reported in the answer (and logged), not raised: the auditor
        asking is exactly who must see it.
        """
        require(actor, "view-decision", f"decision:{request_id}")
        body = self._store.get(request_id).to_dict()
        try:
            body["integrity"] = self._store.verify(request_id)
        except IntegrityFailure as exc:
            log.error("decision %s failed its integrity check: %s", request_id,
                      exc.detail.get("reason"))
            body["integrity"] = {"verified": False, "reason": exc.detail.get("reason"),
                                 "anchor_seq": exc.detail.get("anchor_seq")}
        return body

    def verify(self, actor: Principal, request_id: str | None = None) -> DecisionsReport:
        """Check every batch (or the batch of ``request_id``) against its audit anchor.

        The outcome is audited (``verify-audit-log`` on ``decisions``); problems are in
        the report, not raised.
        """
        self._guard.require(actor, "verify-audit-log", "decisions")
        if request_id is None:
            report = self._store.verify_all()
        else:
            try:
                proof = self._store.verify(request_id)
            except IntegrityFailure as exc:
                report = DecisionsReport(1, 1, [BatchProblem(
                    str(exc.detail.get("reason")), exc.detail.get("anchor_seq"), request_id)])
            else:
                report = DecisionsReport(1, 1, anchor_seq=int(proof["anchor_seq"]))
        self._guard.record(
            actor, "verify-audit-log", resource="decisions",
            outcome="ok" if report.ok else "failed",
            reason="" if report.ok else report.problems[0].reason,
            payload={"batches": report.batches, "records": report.records,
                     "problems": len(report.problems)})
        return report
