"""Decision records in SQL, each batch anchored by one event of the audit chain.

A batch is written in one transaction. The transaction first appends an
``invoke-model`` audit event whose payload carries the batch's size and a SHA-256
over the stored rows (:func:`rows_digest`), then inserts the rows, each pointing at
that event (``anchor_seq``). The hash chain protects the event, and the event
protects the rows. :meth:`SQLDecisionStore.verify` checks one record's batch against
its anchor, and :meth:`SQLDecisionStore.verify_all` checks every batch. Either one
finds a changed, deleted or inserted record, and a record without an anchor.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import select

from garrison.audit import AuditDraft, AuditQuery
from garrison.errors import DecisionNotFound, IntegrityFailure
from garrison.serving.decision_service import BatchProblem, DecisionsReport
from garrison.serving.decisions import DecisionRecord
from garrison.storage import audit_log as _audit
from garrison.storage.engine import dbapi_cursor
from garrison.storage.store import Store
from garrison.storage.tables import decisions

__all__ = ["BatchProblem", "DecisionsReport", "SQLDecisionStore", "rows_digest"]

#: The stored columns, in the order the digest covers them.
_COLUMNS = ("request_id", "created", "caller", "model", "version", "rows", "outputs", "inputs",
            "input_policy", "fallback", "flags", "explanation", "latency_ms")
_ANCHOR = {"action": "invoke-model", "actor": "system", "resource": "decisions"}


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return orjson.dumps(value, default=str, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def rows_digest(rows: Iterable[Sequence[Any]]) -> str:
    """SHA-256 over stored rows (the columns above, as stored), ordered by request id.

    Each row is hashed as one compact JSON array, so the digest is unambiguous and is
    recomputed from what the database returns without re-encoding any value.
    """
    h = hashlib.sha256()
    for row in sorted(rows, key=lambda r: r[0]):
        h.update(orjson.dumps(list(row)))
    return h.hexdigest()


#: Rows per INSERT statement: one statement per chunk, not one step per row (the
#: driver releases and retakes the GIL around every step; the event loop pays for it).
_CHUNK = 256


@functools.lru_cache(maxsize=16)
def _insert_sql(placeholder: str, rows: int) -> str:
    names = (*_COLUMNS, "anchor_seq")
    one = f"({', '.join([placeholder] * len(names))})"
    return f"INSERT INTO decisions ({', '.join(names)}) VALUES {', '.join([one] * rows)}"


_SELECTED = [getattr(decisions.c, name) for name in _COLUMNS]


class SQLDecisionStore:
    """Batches of decision records, each batch anchored by one audit event."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def add_many(self, records: Sequence[DecisionRecord]) -> None:
        if not records:
            return
        rows = [(r.request_id, r.created, r.caller[:128], r.model, r.version, r.rows,
                 _json(r.outputs), _json(r.inputs), r.input_policy, r.fallback[:64],
                 _json(r.flags), _json(r.explanation), r.latency_ms) for r in records]
        with self._store.write() as tx:
            anchor = tx.audit.append(AuditDraft(
                **_ANCHOR, payload={
                    "decisions": len(rows), "first": rows[0][0], "last": rows[-1][0],
                    "sha256": rows_digest(rows),
                    "models": sorted({f"{r.model}:{r.version}" for r in records})}))
            # The DBAPI cursor directly: SQLAlchemy's per-row parameter processing cost
            # more than the insert itself. The statements stay parameterized.
            cursor, placeholder = dbapi_cursor(tx.conn)
            try:
                for lo in range(0, len(rows), _CHUNK):
                    chunk = rows[lo:lo + _CHUNK]
                    cursor.execute(_insert_sql(placeholder, len(chunk)),
                                   [v for row in chunk for v in (*row, anchor.seq)])
            finally:
                cursor.close()

    def get(self, request_id: str) -> DecisionRecord:
        with self._store.read() as tx:
            row = tx.conn.execute(select(decisions).where(
                decisions.c.request_id == request_id)).first()
        if row is None:
            raise DecisionNotFound("no decision with that request id")
        m = row._mapping
        return DecisionRecord(
            request_id=m["request_id"], created=m["created"], caller=m["caller"],
            model=m["model"], version=int(m["version"]), rows=int(m["rows"]),
            outputs=json.loads(m["outputs"]), input_policy=m["input_policy"],
            inputs=json.loads(m["inputs"]) if m["inputs"] else None, fallback=m["fallback"],
            flags=json.loads(m["flags"]),
            explanation=json.loads(m["explanation"]) if m["explanation"] else None,
            latency_ms=int(m["latency_ms"]),
        )

    # -- verification -----------------------------------------------------------------
    def verify(self, request_id: str) -> dict[str, Any]:
        """Check the batch of one record against its audit anchor; raises
        :class:`IntegrityFailure` (``reason``: unanchored, not-an-anchor,
        batch-mismatch) or :class:`DecisionNotFound`."""
        with self._store.read() as tx:
            anchor = tx.conn.execute(select(decisions.c.anchor_seq).where(
                decisions.c.request_id == request_id)).first()
            if anchor is None:
                raise DecisionNotFound("no decision with that request id")
            if anchor[0] is None:
                raise IntegrityFailure("the decision record has no audit anchor",
                                       reason="unanchored")
            problem = self._check(tx.conn, int(anchor[0]))
        if problem is not None:
            raise IntegrityFailure("the decision record does not match its audit anchor",
                                   reason=problem.reason, anchor_seq=problem.anchor_seq)
        return {"verified": True, "anchor_seq": int(anchor[0])}

    def verify_all(self) -> DecisionsReport:
        """Every anchored batch against its event, and every record against an anchor.

        The audit head is read first and last: batches anchored between the two reads
        were committed while the check ran (PostgreSQL reads are not one snapshot) and
        are left for the next check rather than reported half-seen; an anchor past the
        last head names no event at all. Then the anchor events, then every record in
        anchor order: three reads, whatever the number of batches.
        """
        problems: list[BatchProblem] = []
        with self._store.read() as tx:
            head = _audit.read_head(tx.conn)
            newest = head.seq if head is not None else 0
            events = {e.seq: e for e in _audit.query_records(
                tx.conn, AuditQuery(**_ANCHOR, limit=None)) if e.seq <= newest}
            rows = tx.conn.execute(select(decisions.c.anchor_seq, *_SELECTED).order_by(
                decisions.c.anchor_seq, decisions.c.request_id)).all()
            after = _audit.read_head(tx.conn)
            latest = after.seq if after is not None else 0
        seen: set[int] = set()
        count = 0
        for seq, group in itertools.groupby(rows, key=lambda r: r[0]):
            batch = [tuple(r[1:]) for r in group]
            if seq is None:
                problems += [BatchProblem("unanchored", request_id=r[0]) for r in batch]
            elif seq in events:
                seen.add(seq)
                problem = _mismatch(events[seq], batch)
                if problem is not None:
                    problems.append(problem)
            elif seq <= newest or seq > latest:  # No such anchor, then or now.
                problems += [BatchProblem("not-an-anchor", seq, r[0]) for r in batch]
            else:
                continue  # Anchored while the check ran: the next check sees it whole.
            count += len(batch)
        # An anchor whose records are all gone is a deleted batch.
        problems += [p for seq in sorted(set(events) - seen)
                     if (p := _mismatch(events[seq], [])) is not None]
        return DecisionsReport(len(events), count, problems)

    @staticmethod
    def _check(conn: Any, seq: int) -> BatchProblem | None:
        events = list(_audit.read_records(conn, seq - 1, 1, seq))
        event = events[0] if events else None
        if event is None or any(getattr(event, k) != v for k, v in _ANCHOR.items()):
            return BatchProblem("not-an-anchor", seq)
        rows = conn.execute(select(*_SELECTED).where(decisions.c.anchor_seq == seq)).all()
        return _mismatch(event, rows)


def _mismatch(event: Any, rows: Sequence[Sequence[Any]]) -> BatchProblem | None:
    """``batch-mismatch`` unless ``rows`` are exactly the batch the anchor event hashed."""
    payload = json.loads(event.payload)
    if len(rows) != payload.get("decisions") or rows_digest(rows) != payload.get("sha256"):
        return BatchProblem("batch-mismatch", event.seq)
    return None
