"""Decision records as a service: the writer's sink, lookups and the integrity check.

``record_batch`` finishes a batch on the writer thread (arrays to lists, inputs kept
as each deployment's policy says, pseudonymized inputs keyed by the installation's
pseudonymization key) and stores it anchored by one audit event. ``fetch`` is the
gateway's ``GET /v1/decisions/{id}``; ``verify`` is ``garrison audit decisions``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from garrison.authz import Subject, require
from garrison.errors import IntegrityFailure
from garrison.governance import Guard
from garrison.identity import Principal
from garrison.serving.decisions import DecisionRecord, settle
from garrison.serving.ports import DecisionStore

__all__ = ["DECISION_INPUTS_PURPOSE", "BatchProblem", "DecisionService", "DecisionsReport",
           "WriterAccount"]

log = logging.getLogger("garrison.serving.decisions")

#: The purpose the digests of pseudonymized decision inputs are bound to.
DECISION_INPUTS_PURPOSE = "garrison-decision-inputs-v1"


@dataclass(frozen=True)
class BatchProblem:
    """``batch-mismatch``, ``not-an-anchor``, ``unanchored`` (integrity), or ``dropped``,
    ``missing``, ``unclosed`` (accounting: ``count`` records of ``writer``)."""

    reason: str
    anchor_seq: int | None = None
    request_id: str | None = None
    writer: str | None = None
    count: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.reason, "anchor_seq": self.anchor_seq,
                               "request_id": self.request_id}
        if self.writer is not None:
            out.update(writer=self.writer, count=self.count)
        return out


@dataclass
class WriterAccount:
    """What one gateway worker's decision log reserved, stored, dropped and lost."""

    writer: str
    opened: str
    lease: float
    reserved: int = 0
    used: int = 0
    written: int = 0
    written_max: int = 0
    dropped: int = 0
    dropped_max: int = 0
    closed_at: int | None = None
    last_activity: str = ""
    state: str = "open"
    missing: int = 0
    possibly_missing: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class DecisionsReport:
    batches: int
    records: int
    problems: list[BatchProblem] = field(default_factory=list)
    #: One record checked and intact: the audit event that anchors its batch.
    anchor_seq: int | None = None
    writers: list[WriterAccount] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def lost(self) -> int:
        """Answered predictions known to have no record (dropped or missing)."""
        return sum(w.dropped + w.missing for w in self.writers)

    @property
    def possibly_lost(self) -> int:
        """Upper bound of further losses of logs that stopped without closing."""
        return sum(w.possibly_missing for w in self.writers if w.state == "unclosed")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "batches": self.batches,
                               "records": self.records,
                               "problems": [p.to_dict() for p in self.problems]}
        if self.anchor_seq is not None:
            out["anchor_seq"] = self.anchor_seq
        if self.writers:
            out.update(lost=self.lost, possibly_lost=self.possibly_lost,
                       writers=[w.to_dict() for w in self.writers])
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

    # -- the decision log's sink (garrison.serving.decision_log.DecisionSink) ----------
    def add_many(self, records: Sequence[DecisionRecord], *, writer: str | None = None,
                 reserved: int | None = None, used: int | None = None) -> None:
        """Finish and store one numbered batch; its anchor moves the writer's reservation."""
        self._store.add_many(settle(list(records), self._pseudonymize), writer=writer,
                             reserved=reserved, used=used)

    def open_writer(self, writer: str, reserved: int, detail: dict[str, Any]) -> None:
        self._store.open_writer(writer, reserved, detail)

    def reserve(self, writer: str, reserved: int, used: int) -> None:
        self._store.reserve(writer, reserved, used)

    def record_drops(self, writer: str, records: Sequence[DecisionRecord], reason: str,
                     message: str) -> None:
        self._store.record_drops(writer, records, reason, message)

    def close_writer(self, writer: str, last: int) -> None:
        self._store.close_writer(writer, last)

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

    def verify(self, actor: Principal, request_id: str | None = None, *,
               since: str | None = None, audit_request_id: str = "") -> DecisionsReport:
        """Check every batch (or the batch of ``request_id``) against its audit anchor,
        and account for every numbered record (``since``: judge only the decision logs
        opened from then).

        The outcome is audited (``verify-audit-log`` on ``decisions``); problems are in
        the report, not raised.
        """
        self._guard.require(actor, "verify-audit-log", "decisions",
                            request_id=audit_request_id)
        if request_id is None:
            report = self._store.verify_all(since=since)
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
            request_id=audit_request_id,
            payload={"batches": report.batches, "records": report.records,
                     "problems": len(report.problems),
                     **({"lost": report.lost, "possibly_lost": report.possibly_lost}
                        if report.writers else {})})
        return report
