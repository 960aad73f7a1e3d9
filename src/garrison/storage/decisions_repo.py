"""Decision records in SQL, each batch anchored by one event of the audit chain.

A batch is written in one transaction. The transaction first appends an
``invoke-model`` audit event whose payload carries the batch's size and a SHA-256
over the stored rows (:func:`rows_digest`), then inserts the rows, each pointing at
that event (``anchor_seq``). The hash chain protects the event, and the event
protects the rows. :meth:`SQLDecisionStore.verify` checks one record's batch against
its anchor; :mod:`garrison.storage.decisions_check` checks every batch and accounts
for every numbered record.

The key of a record is the gateway's own request id. The client's ``X-Request-ID`` is
stored as given in ``client_request_id`` and never used as a key, so one client can
never make another client's records fail to write.

Each gateway worker numbers its records (``writer``, ``wseq``) and reserves numbers
ahead of use in the audit trail (``open-decision-log``, the ``reserved`` field of each
anchor, ``reserve-decision-records``); records it could not store are recorded by a
``drop-decision-records`` event, and a clean stop by ``close-decision-log``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import select

from garrison.audit import AuditDraft
from garrison.audit.events import Outcome
from garrison.errors import DecisionNotFound, IntegrityFailure
from garrison.serving.decision_service import BatchProblem, DecisionsReport
from garrison.serving.decisions import DecisionRecord
from garrison.storage import audit_log as _audit
from garrison.storage.engine import dbapi_cursor
from garrison.storage.store import Store
from garrison.storage.tables import decisions

__all__ = ["ANCHOR", "COLUMNS", "LOG_ACTIONS", "BatchProblem", "DecisionsReport",
           "SQLDecisionStore", "columns_of", "mismatch", "rows_digest"]

#: The stored columns, in the order the digest covers them (format 2, with numbering).
COLUMNS = ("request_id", "client_request_id", "writer", "wseq", "created", "caller", "model",
           "version", "rows", "outputs", "inputs", "input_policy", "fallback", "flags",
           "explanation", "latency_ms")
#: The columns anchors without a ``format`` field (written before numbering) cover.
_COLUMNS_V1 = ("request_id", "created", "caller", "model", "version", "rows", "outputs",
               "inputs", "input_policy", "fallback", "flags", "explanation", "latency_ms")
_V1_INDEX = [COLUMNS.index(c) for c in _COLUMNS_V1]
ANCHOR: dict[str, Any] = {"action": "invoke-model", "actor": "system", "resource": "decisions"}
#: Lifecycle events of a writer's numbering (Garrison itself; resource decisions:<writer>).
LOG_ACTIONS = ("open-decision-log", "reserve-decision-records", "drop-decision-records",
               "close-decision-log")
#: Records a drop event names one by one (the rest are counted).
_LISTED = 100


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


def columns_of(payload: dict[str, Any], row: Sequence[Any]) -> tuple[Any, ...]:
    """The part of a full stored row (``COLUMNS``) that an anchor of this format covers."""
    if payload.get("format") == 2:
        return tuple(row)
    return tuple(row[i] for i in _V1_INDEX)


def mismatch(event: Any, rows: Sequence[Sequence[Any]]) -> bool:
    """True unless ``rows`` (full stored rows) are exactly the batch the anchor hashed."""
    payload = json.loads(event.payload)
    covered = [columns_of(payload, r) for r in rows]
    return len(rows) != payload.get("decisions") or rows_digest(covered) != payload.get("sha256")


#: Rows per INSERT statement: one statement per chunk, not one step per row (the
#: driver releases and retakes the GIL around every step; the event loop pays for it).
_CHUNK = 256


@functools.lru_cache(maxsize=16)
def _insert_sql(placeholder: str, rows: int) -> str:
    names = (*COLUMNS, "anchor_seq")
    one = f"({', '.join([placeholder] * len(names))})"
    return f"INSERT INTO decisions ({', '.join(names)}) VALUES {', '.join([one] * rows)}"


SELECTED = [getattr(decisions.c, name) for name in COLUMNS]


def _row(r: DecisionRecord) -> tuple[Any, ...]:
    return (r.request_id, r.client_request_id, r.writer, r.wseq, r.created, r.caller[:128],
            r.model, r.version, r.rows, _json(r.outputs), _json(r.inputs), r.input_policy,
            r.fallback[:64], _json(r.flags), _json(r.explanation), r.latency_ms)


def _ranges(numbers: Iterable[int]) -> list[list[int]]:
    """``[1, 2, 3, 7]`` -> ``[[1, 3], [7, 7]]``: a compact, exact list of numbers."""
    out: list[list[int]] = []
    for n in sorted(set(numbers)):
        if out and n == out[-1][1] + 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return out


class SQLDecisionStore:
    """Batches of decision records, each batch anchored by one audit event."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # -- the write path (garrison.serving.decision_log.DecisionSink) ------------------
    def add_many(self, records: Sequence[DecisionRecord], *, writer: str | None = None,
                 reserved: int | None = None, used: int | None = None) -> None:
        if not records:
            return
        rows = [_row(r) for r in records]
        numbers = [r.wseq for r in records if r.wseq is not None]
        payload: dict[str, Any] = {
            "format": 2, "decisions": len(rows), "first": rows[0][0], "last": rows[-1][0],
            "sha256": rows_digest(rows),
            "models": sorted({f"{r.model}:{r.version}" for r in records})}
        if writer is not None:
            payload.update(writer=writer, wseq=_ranges(numbers), reserved=reserved, used=used)
        with self._store.write() as tx:
            anchor = tx.audit.append(AuditDraft(**ANCHOR, payload=payload))
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

    def _log_event(self, action: str, writer: str, payload: dict[str, Any], *,
                   outcome: Outcome = "ok", reason: str = "") -> None:
        self._store.append(AuditDraft(action=action, actor="system",
                                      resource=f"decisions:{writer}", outcome=outcome,
                                      reason=reason, payload={"writer": writer, **payload}))

    def open_writer(self, writer: str, reserved: int, detail: dict[str, Any]) -> None:
        self._log_event("open-decision-log", writer, {"reserved": reserved, **detail})

    def reserve(self, writer: str, reserved: int, used: int = 0) -> None:
        self._log_event("reserve-decision-records", writer, {"reserved": reserved,
                                                             "used": used})

    def record_drops(self, writer: str, records: Sequence[DecisionRecord], reason: str,
                     message: str) -> None:
        self._log_event("drop-decision-records", writer, {
            "count": len(records), "wseq": _ranges(r.wseq for r in records if r.wseq),
            "request_ids": [r.request_id for r in records[:_LISTED]],
            "message": message[:500]}, outcome="failed", reason=reason)

    def close_writer(self, writer: str, last: int) -> None:
        self._log_event("close-decision-log", writer, {"last": last})

    # -- reading --------------------------------------------------------------------
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
            latency_ms=int(m["latency_ms"]), client_request_id=m["client_request_id"],
            writer=m["writer"], wseq=None if m["wseq"] is None else int(m["wseq"]),
        )

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
            seq = int(anchor[0])
            events = list(_audit.read_records(tx.conn, seq - 1, 1, seq))
            event = events[0] if events else None
            if event is None or any(getattr(event, k) != v for k, v in ANCHOR.items()):
                raise IntegrityFailure("the decision record does not match its audit anchor",
                                       reason="not-an-anchor", anchor_seq=seq)
            rows = tx.conn.execute(select(*SELECTED).where(
                decisions.c.anchor_seq == seq)).all()
        if mismatch(event, rows):
            raise IntegrityFailure("the decision record does not match its audit anchor",
                                   reason="batch-mismatch", anchor_seq=seq)
        return {"verified": True, "anchor_seq": seq}

    def verify_all(self, *, since: str | None = None,
                   now: str | None = None) -> DecisionsReport:
        """Every batch against its anchor and every numbered record accounted for
        (:func:`garrison.storage.decisions_check.check_decisions`)."""
        from garrison.storage.decisions_check import check_decisions

        return check_decisions(self._store, since=since, now=now)
