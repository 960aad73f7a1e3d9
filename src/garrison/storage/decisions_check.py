"""``garrison audit decisions``: every batch against its anchor, every record accounted for.

Two checks over one snapshot of the database:

1. **Integrity.** Each anchor event's digest is recomputed from the stored rows of its
   batch (``batch-mismatch``), and each record must point at an anchor
   (``not-an-anchor``, ``unanchored``).
2. **Accounting.** Each gateway worker's decision log numbers its records 1, 2, 3, ...
   and reserves numbers ahead of use in the audit trail; the number of answered
   predictions without a record is therefore never silent:

   - ``dropped``: records the writer could not store, each recorded by a
     ``drop-decision-records`` event (and alerted when it happened);
   - ``missing``: numbers below the highest accounted one that are neither stored nor
     dropped (a batch lost with no trace); for a log that was closed, numbers used
     before the close but never stored; for a log that stopped without closing,
     numbers its last write or heartbeat said were used but that were never stored;
   - ``unclosed``: a log that stopped without closing (kill -9, power loss): no activity
     for twice its lease. Beyond the missing ones, up to ``reserved - used`` more
     answered predictions may lack a record; the gateway never answers beyond its
     reservation, so missing plus this is at most the writer's window. A log still
     within its lease is ``open`` (running): its queued records are not missing.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any

from sqlalchemy import select

from garrison.audit import AuditQuery
from garrison.serving.decision_service import BatchProblem, DecisionsReport, WriterAccount
from garrison.storage import audit_log as _audit
from garrison.storage.decisions_repo import ANCHOR, LOG_ACTIONS, SELECTED, mismatch
from garrison.storage.store import Store
from garrison.storage.tables import decisions
from garrison.types import parse_utc

__all__ = ["check_decisions"]


def check_decisions(store: Store, *, since: str | None = None,
                    now: str | None = None) -> DecisionsReport:
    """Both checks. ``since`` judges only logs opened at or after that time; ``now``
    (default: the store's clock) decides which unclosed logs are past their lease."""
    with store.read(snapshot=True) as tx:
        head = _audit.read_head(tx.conn)
        newest = head.seq if head is not None else 0
        events = {e.seq: e for e in _audit.query_records(
            tx.conn, AuditQuery(**ANCHOR, limit=None)) if e.seq <= newest}
        log_events = sorted((e for action in LOG_ACTIONS for e in _audit.query_records(
            tx.conn, AuditQuery(action=action, limit=None))), key=lambda e: e.seq)
        rows = tx.conn.execute(select(decisions.c.anchor_seq, *SELECTED).order_by(
            decisions.c.anchor_seq, decisions.c.request_id)).all()
    problems: list[BatchProblem] = []
    seen: set[int] = set()
    count = 0
    numbered: dict[str, list[int]] = {}
    for seq, group in itertools.groupby(rows, key=lambda r: r[0]):
        batch = [tuple(r[1:]) for r in group]
        if seq is None:
            problems += [BatchProblem("unanchored", request_id=r[0]) for r in batch]
        elif seq in events:
            seen.add(seq)
            if mismatch(events[seq], batch):
                problems.append(BatchProblem("batch-mismatch", seq))
        else:  # No such anchor (the read is one snapshot: nothing was half-committed).
            problems += [BatchProblem("not-an-anchor", seq, r[0]) for r in batch]
        count += len(batch)
        for r in batch:
            if r[2] is not None and r[3] is not None:
                numbered.setdefault(r[2], []).append(int(r[3]))
    # An anchor whose records are all gone is a deleted batch.
    problems += [BatchProblem("batch-mismatch", seq) for seq in sorted(set(events) - seen)
                 if mismatch(events[seq], [])]
    writers = _accounts(events, log_events, numbered)
    clock_now = parse_utc(now) if now else store.clock.now()
    for w in writers:
        _settle(w, clock_now)
        if since is not None and w.opened < since:
            continue
        for reason, n in (("dropped", w.dropped), ("missing", w.missing),
                          ("unclosed", w.possibly_missing if w.state == "unclosed" else 0)):
            if n:
                problems.append(BatchProblem(reason, writer=w.writer, count=n))
    return DecisionsReport(len(events), count, problems, writers=writers)


def _accounts(anchors: dict[int, Any], log_events: list[Any],
              numbered: dict[str, list[int]]) -> list[WriterAccount]:
    accounts: dict[str, WriterAccount] = {}
    for e in log_events:
        payload = json.loads(e.payload)
        writer = str(payload.get("writer", ""))
        if e.action == "open-decision-log":
            accounts[writer] = WriterAccount(writer, e.created, float(payload.get("lease", 60)),
                                             reserved=int(payload.get("reserved", 0)),
                                             last_activity=e.created)
            continue
        w = accounts.get(writer)
        if w is None:
            continue  # Events of a log never opened: nothing to account against.
        w.last_activity = max(w.last_activity, e.created)
        if e.action == "reserve-decision-records":
            w.reserved = max(w.reserved, int(payload.get("reserved", 0)))
            w.used = max(w.used, int(payload.get("used") or 0))
        elif e.action == "drop-decision-records":
            w.dropped += int(payload.get("count", 0))
            w.dropped_max = max([w.dropped_max, *(int(hi) for _, hi in payload.get("wseq", []))])
        elif e.action == "close-decision-log":
            w.closed_at = int(payload.get("last", 0))
    for e in anchors.values():
        payload = json.loads(e.payload)
        w = accounts.get(str(payload.get("writer", "")))
        if w is not None:
            w.reserved = max(w.reserved, int(payload.get("reserved") or 0))
            w.used = max(w.used, int(payload.get("used") or 0))
            w.last_activity = max(w.last_activity, e.created)
    for writer, numbers in numbered.items():
        w = accounts.get(writer)
        if w is not None:
            w.written, w.written_max = len(numbers), max(numbers)
    return sorted(accounts.values(), key=lambda w: w.opened)


def _settle(w: WriterAccount, now: dt.datetime) -> None:
    accounted = max(w.written_max, w.dropped_max)
    w.missing = max(0, accounted - w.written - w.dropped)
    if w.closed_at is not None:
        w.state = "closed"
        w.missing += max(0, w.closed_at - accounted)
        w.possibly_missing = 0
        return
    quiet = now - parse_utc(w.last_activity)
    w.state = "unclosed" if quiet > dt.timedelta(seconds=2 * w.lease) else "open"
    used = max(w.used, accounted)
    if w.state == "unclosed":  # Used before the last sign of life, never stored: lost.
        w.missing += used - accounted
    w.possibly_missing = max(0, w.reserved - used)
