"""The SQL audit log: append-only, hash-chained, head signed in the same transaction.

Appenders serialize on one lock: a row lock on ``garrison_meta('audit-lock')`` in
PostgreSQL (``SELECT ... FOR UPDATE``) and the database write lock in SQLite
(``BEGIN IMMEDIATE``). Several processes therefore extend one chain without gaps
or forks. The chain head is re-signed on every append (one Ed25519 signature,
tens of microseconds), and a checkpoint is kept every ``checkpoint_every`` events
and mirrored to an optional witness file outside the database (one JSON checkpoint a
line, read back by ``read_witness``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from garrison.audit import (
    AuditDraft,
    AuditQuery,
    AuditRecord,
    Checkpoint,
    Signer,
    checkpoint_message,
    record_hash,
)
from garrison.audit.chain import GENESIS
from garrison.audit.incidents import QUARANTINE_ACTION
from garrison.errors import AuditChainBroken, Conflict, IntegrityFailure
from garrison.storage.engine import dbapi_cursor
from garrison.storage.tables import audit_checkpoints, audit_events, audit_head, audit_quarantine
from garrison.types import Clock, utc_iso

__all__ = [
    "QUARANTINE_ACTION",
    "SQLAuditWriter",
    "query_records",
    "read_checkpoints",
    "read_head",
    "read_quarantine",
    "read_records",
    "read_witness",
]

#: Quarantined records described one by one in that event's payload (the rest are counted).
_LISTED = 20

# Rows are read positionally into AuditRecord: every column list follows its fields.
_COLUMNS = [audit_events.c[name] for name in AuditRecord._fields]
_EVENT_COLUMNS = ", ".join(AuditRecord._fields)


class _Statements:
    """The append path's statements, parameterized for the driver's placeholder style.

    The append path is the hottest write in Garrison, so it talks to the DBAPI cursor
    directly (SQLAlchemy adds ~45 us per statement); the SQL stays parameterized.
    """

    def __init__(self, placeholder: str) -> None:
        ph = placeholder
        self.lock = f"SELECT value FROM garrison_meta WHERE key = {ph} FOR UPDATE"
        # The signed head and the highest stored seq in one round trip (the max of the
        # primary key is one index probe): a record past the head is caught at once.
        self.head = ("SELECT h.seq, h.hash, (SELECT MAX(seq) FROM audit_events) "
                     "FROM audit_head h WHERE h.id = 1")
        self.tail = "SELECT MAX(seq) FROM audit_events"
        quarantined = ", ".join(AuditRecord._fields)
        self.quarantine = (
            f"INSERT INTO audit_quarantine (quarantined_at_seq, head_seq, {quarantined}) "
            f"SELECT {ph}, {ph}, {quarantined} FROM audit_events WHERE seq > {ph}")
        self.past_head = (f"SELECT {_EVENT_COLUMNS} FROM audit_events WHERE seq > {ph} "
                          f"ORDER BY seq LIMIT {_LISTED}")
        self.count_past = f"SELECT COUNT(*), MAX(seq) FROM audit_events WHERE seq > {ph}"
        self.drop_past = f"DELETE FROM audit_events WHERE seq > {ph}"
        values = ", ".join([ph] * len(AuditRecord._fields))
        self.insert = f"INSERT INTO audit_events ({_EVENT_COLUMNS}) VALUES ({values})"
        self.insert_head = (
            "INSERT INTO audit_head (id, seq, hash, created, key_id, signature) "
            f"VALUES (1, {ph}, {ph}, {ph}, {ph}, {ph})"
        )
        self.page = (
            f"SELECT {_EVENT_COLUMNS} FROM audit_events WHERE seq > {ph} ORDER BY seq LIMIT {ph}"
        )
        self.page_until = (
            f"SELECT {_EVENT_COLUMNS} FROM audit_events WHERE seq > {ph} AND seq <= {ph} "
            f"ORDER BY seq LIMIT {ph}"
        )
        self.update_head = (
            f"UPDATE audit_head SET seq = {ph}, hash = {ph}, created = {ph}, key_id = {ph}, "
            f"signature = {ph} WHERE id = 1"
        )


_STATEMENTS = {ph: _Statements(ph) for ph in ("?", "%s")}


class SQLAuditWriter:
    """Appends within a caller's write transaction (``conn``)."""

    def __init__(
        self,
        conn: Connection,
        signer: Signer,
        clock: Clock,
        *,
        checkpoint_every: int = 1000,
        witness: Path | None = None,
        on_append: Callable[[list[AuditRecord]], None] | None = None,
        on_tamper: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self._conn = conn
        self._signer = signer
        self._clock = clock
        self._every = checkpoint_every
        self._witness = witness
        self._on_append = on_append
        self._on_tamper = on_tamper
        #: Events that must precede the caller's (a quarantine found by this append).
        self._pending: list[AuditDraft] = []
        #: Work that must only happen once the transaction has committed.
        self.after_commit: list[Callable[[], None]] = []
        #: Notifications that may write themselves: run after the store's lock is free.
        self.after_release: list[Callable[[], None]] = []

    def _cursor(self) -> tuple[Any, _Statements]:
        cursor, placeholder = dbapi_cursor(self._conn)
        return cursor, _STATEMENTS[placeholder]

    def _lock_head(self) -> tuple[int, str]:
        cur, sql = self._cursor()
        try:
            if self._conn.dialect.name != "sqlite":
                # SQLite's BEGIN IMMEDIATE already holds the database write lock.
                cur.execute(sql.lock, ("audit-lock",))
                cur.fetchone()
            cur.execute(sql.head)
            row = cur.fetchone()
            if row is None:
                cur.execute(sql.tail)
                tail = cur.fetchone()[0]
                if tail is not None:
                    raise AuditChainBroken(
                        "audit chain broken at position 1: the chain has records but its "
                        "signed head is missing; restore the database from a backup",
                        position=1, reason="bad-checkpoint")
                self._ensure_not_wiped()
                return 0, GENESIS
            seq, digest, tail = int(row[0]), row[1], row[2]
            if tail is not None and int(tail) > seq:
                self._quarantine(cur, sql, seq)
            return seq, digest
        finally:
            cur.close()

    def _ensure_not_wiped(self) -> None:
        """An empty chain is only ever new: not once the witness holds a signed checkpoint
        (``garrison init`` writes one at once), or a wiped trail would restart at seq 1
        signed with the real key."""
        witness = self._witness
        if witness is None or not witness.is_file():
            return
        with witness.open("rb") as fh:
            if not any(line.strip() for line in fh):
                return
        raise AuditChainBroken(
            "audit chain broken at position 1: the chain is empty but the witness file "
            "holds signed checkpoints (the trail was wiped); restore the database from a "
            "backup", position=1, reason="truncated")

    def _quarantine(self, cur: Any, sql: _Statements, head: int) -> None:
        """Move records past the signed head out of the chain, keeping them as evidence."""
        at = head + 1  # The seq of the quarantine event about to be appended.
        cur.execute(sql.count_past, (head,))
        count, last = cur.fetchone()
        cur.execute(sql.past_head, (head,))
        listed = [AuditRecord._make(r) for r in cur.fetchall()]
        cur.execute(sql.quarantine, (at, head, head))
        cur.execute(sql.drop_past, (head,))
        detail = {
            "head_seq": head, "count": int(count), "first": head + 1, "last": int(last),
            "records": [{"seq": r.seq, "event_id": r.event_id[:64], "actor": r.actor[:128],
                         "action": r.action[:64], "resource": r.resource[:256],
                         "hash": r.hash[:64]} for r in listed],
        }
        self._pending.append(AuditDraft(
            action=QUARANTINE_ACTION, actor="system", resource="audit", reason="inserted",
            payload=detail))
        if self._on_tamper is not None:
            callback = self._on_tamper
            self.after_release.append(lambda: callback("audit-quarantine",
                                                       {**detail, "quarantine_seq": at}))

    def append(self, draft: AuditDraft) -> AuditRecord:
        return self.append_many([draft])[0]

    def append_many(self, drafts: Sequence[AuditDraft]) -> list[AuditRecord]:
        if not drafts:
            return []
        seq, prev = self._lock_head()
        pending, self._pending = self._pending, []
        return self._append_locked(seq, prev, [*pending, *drafts])[len(pending):]

    def _append_locked(self, seq: int, prev: str,
                       drafts: Sequence[AuditDraft]) -> list[AuditRecord]:
        created = utc_iso(self._clock.now())
        out: list[AuditRecord] = []
        for draft in drafts:
            seq += 1
            fields = dict(
                seq=seq, event_id=str(uuid.uuid4()), created=created, actor=draft.actor[:128],
                action=draft.action, resource=draft.resource[:256], outcome=draft.outcome,
                reason=draft.reason[:2000], request_id=draft.request_id[:64],
                payload=draft.payload_json(), prev_hash=prev,
            )
            digest = record_hash(**fields)  # type: ignore[arg-type]
            out.append(AuditRecord(**fields, hash=digest))  # type: ignore[arg-type]
            prev = digest
        cur, sql = self._cursor()
        cur.executemany(sql.insert, out)
        cur.close()
        self._sign_head(seq, prev, created, first=out[0].seq == 1)
        for rec in out:
            if rec.seq % self._every == 0:
                self._store_checkpoint(rec.seq, rec.hash, created)
        if self._on_append is not None:
            callback = self._on_append
            self.after_commit.append(lambda: callback(out))
        return out

    def _sign_head(self, seq: int, digest: str, created: str, *, first: bool) -> Checkpoint:
        key_id, sig = self._signer.sign(checkpoint_message(seq, digest, created))
        cur, sql = self._cursor()
        cur.execute(sql.insert_head if first else sql.update_head,
                    (seq, digest, created, key_id, sig))
        cur.close()
        return Checkpoint(seq, digest, created, key_id, sig)

    def _store_checkpoint(self, seq: int, digest: str, created: str) -> Checkpoint:
        key_id, sig = self._signer.sign(checkpoint_message(seq, digest, created))
        cp = Checkpoint(seq, digest, created, key_id, sig)
        existing = self._conn.execute(
            select(audit_checkpoints.c.seq).where(audit_checkpoints.c.seq == seq)
        ).first()
        if existing is None:
            self._conn.execute(insert(audit_checkpoints).values(
                seq=cp.seq, hash=cp.hash, created=cp.created, key_id=cp.key_id,
                signature=cp.signature))
        if self._witness is not None:
            witness, line = self._witness, json.dumps(cp.to_dict(), sort_keys=True) + "\n"

            def write_witness() -> None:
                witness.parent.mkdir(parents=True, exist_ok=True)
                with witness.open("a", encoding="utf-8") as fh:
                    fh.write(line)

            self.after_commit.append(write_witness)
        return cp

    def checkpoint(self) -> Checkpoint:
        seq, digest = self._lock_head()
        pending, self._pending = self._pending, []
        if pending:  # A quarantine found on the way: record it before signing the head.
            last = self._append_locked(seq, digest, pending)[-1]
            seq, digest = last.seq, last.hash
        if seq == 0:
            raise Conflict("the audit log is empty; nothing to checkpoint")
        created = utc_iso(self._clock.now())
        return self._store_checkpoint(seq, digest, created)


def read_records(conn: Connection, after_seq: int = 0, batch: int = 5000,
                 until_seq: int | None = None) -> Iterator[AuditRecord]:
    """Every record in ``seq`` order, read in pages through the DBAPI cursor (the hot
    path of verification: SQLAlchemy's row objects cost more than hashing)."""
    last = after_seq
    make = AuditRecord._make
    while True:
        cur, placeholder = dbapi_cursor(conn)
        sql = _STATEMENTS[placeholder]
        if until_seq is None:
            cur.execute(sql.page, (last, batch))
        else:
            cur.execute(sql.page_until, (last, until_seq, batch))
        rows = cur.fetchall()
        cur.close()
        if not rows:
            return
        yield from map(make, rows)
        last = rows[-1][0]


def query_records(conn: Connection, q: AuditQuery) -> list[AuditRecord]:
    stmt = select(*_COLUMNS).where(audit_events.c.seq > q.after_seq)
    for col, value in (
        (audit_events.c.actor, q.actor), (audit_events.c.action, q.action),
        (audit_events.c.outcome, q.outcome), (audit_events.c.resource, q.resource),
        (audit_events.c.request_id, q.request_id),
    ):
        if value is not None:
            stmt = stmt.where(col == value)
    if q.since is not None:
        stmt = stmt.where(audit_events.c.created >= q.since)
    if q.until is not None:
        stmt = stmt.where(audit_events.c.created <= q.until)
    if q.before_seq is not None:
        stmt = stmt.where(audit_events.c.seq < q.before_seq)
    stmt = stmt.order_by(audit_events.c.seq.desc() if q.newest_first else audit_events.c.seq)
    if q.limit is not None:
        stmt = stmt.limit(q.limit)
    return [AuditRecord(*row) for row in conn.execute(stmt)]


def latest_seq(conn: Connection, actions: Sequence[str]) -> int:
    """The seq of the newest ``ok`` event of any of ``actions`` (0 if none)."""
    value = conn.execute(select(func.max(audit_events.c.seq)).where(
        audit_events.c.action.in_(list(actions)), audit_events.c.outcome == "ok")).scalar()
    return int(value or 0)


def read_head(conn: Connection) -> Checkpoint | None:
    row = conn.execute(
        select(audit_head.c.seq, audit_head.c.hash, audit_head.c.created, audit_head.c.key_id,
               audit_head.c.signature)
    ).first()
    return None if row is None else Checkpoint(int(row[0]), row[1], row[2], row[3], bytes(row[4]))


def read_checkpoints(conn: Connection) -> list[Checkpoint]:
    rows = conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.seq)).all()
    return [Checkpoint(int(r.seq), r.hash, r.created, r.key_id, bytes(r.signature)) for r in rows]


def read_quarantine(conn: Connection) -> list[tuple[int, AuditRecord]]:
    """Quarantined records as ``(seq of the quarantine event, record)``, in that order."""
    cols = [audit_quarantine.c[name] for name in AuditRecord._fields]
    rows = conn.execute(select(audit_quarantine.c.quarantined_at_seq, *cols).order_by(
        audit_quarantine.c.id)).all()
    return [(int(r[0]), AuditRecord(*r[1:])) for r in rows]


def read_witness(path: Path) -> list[Checkpoint]:
    """Checkpoints mirrored to the witness file (missing file: none)."""
    if not path.is_file():
        return []
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(Checkpoint.from_dict(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            raise IntegrityFailure(f"witness file line {number} is malformed") from exc
    return out
