"""The store: one engine, unit-of-work transactions, and the repositories bound to them.

``with store.write() as tx:`` opens one write transaction; everything done through
``tx`` (the change and its audit event) commits together or not at all. Database
driver errors are translated into :class:`~garrison.errors.StorageError`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from garrison.audit import AuditDraft, AuditQuery, AuditRecord, Checkpoint, Signer
from garrison.errors import GarrisonError, SchemaOutOfDate, StorageError
from garrison.storage import audit_log as _audit
from garrison.storage.deployments_repo import SQLDeploymentRepository
from garrison.storage.engine import is_sqlite, make_engine
from garrison.storage.migrate import (
    current_heads,
    current_revision,
    head_revision,
    head_revisions,
    upgrade,
)
from garrison.storage.registry_repo import SQLModelRepository
from garrison.storage.repos import SQLAPIKeyRepository, SQLPrincipalRepository
from garrison.storage.seals_repo import SQLSealRepository
from garrison.storage.sessions_repo import SQLSessionRepository
from garrison.storage.tables import meta
from garrison.types import Clock, SystemClock

__all__ = ["AuditSnapshot", "Store", "Tx"]

log = logging.getLogger(__name__)


@dataclass
class Tx:
    """Repositories bound to one open transaction."""

    conn: Connection
    principals: SQLPrincipalRepository
    api_keys: SQLAPIKeyRepository
    audit: _audit.SQLAuditWriter
    models: SQLModelRepository
    sessions: SQLSessionRepository
    deployments: SQLDeploymentRepository
    seals: SQLSealRepository


class AuditSnapshot:
    """Audit reads bound to one snapshot transaction (``Store.audit_snapshot``)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def head(self) -> Checkpoint | None:
        return _audit.read_head(self._conn)

    def checkpoints(self) -> list[Checkpoint]:
        return _audit.read_checkpoints(self._conn)

    def records(self, after_seq: int = 0, batch: int = 5000) -> Iterator[AuditRecord]:
        return _audit.read_records(self._conn, after_seq, batch)

    def query(self, q: AuditQuery) -> list[AuditRecord]:
        return _audit.query_records(self._conn, q)

    def quarantined(self) -> list[tuple[int, AuditRecord]]:
        return _audit.read_quarantine(self._conn)


class Store:
    def __init__(
        self,
        url: str,
        *,
        signer: Signer,
        clock: Clock | None = None,
        checkpoint_every: int = 1000,
        witness: Path | None = None,
    ) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)
        self.signer = signer
        self.clock = clock or SystemClock()
        self.checkpoint_every = checkpoint_every
        self.witness = witness
        # SQLite allows one writer; queue this process's writers here instead of on
        # the file lock (other processes still queue on the lock via BEGIN IMMEDIATE).
        self._write_lock = threading.Lock() if is_sqlite(self.engine) else None
        self.on_audit_append: Callable[[list[AuditRecord]], None] | None = None
        #: Told about tampering the storage layer found and handled (``kind``, detail),
        #: after the commit that recorded it; the composition root raises an alert.
        self.on_tamper: Callable[[str, dict[str, Any]], None] | None = None
        # The driver's own exceptions: the audit hot path uses the DBAPI cursor directly,
        # so its errors are not wrapped by SQLAlchemy and must be translated here too.
        dbapi = getattr(self.engine.dialect, "loaded_dbapi", None) or self.engine.dialect.dbapi
        self._driver_errors: tuple[type[BaseException], ...] = (
            OperationalError, DBAPIError, *((dbapi.Error,) if dbapi is not None else ()))

    # -- schema -------------------------------------------------------------------
    def upgrade(self) -> None:
        try:
            upgrade(self.engine)
        except DBAPIError as exc:
            raise StorageError("database migration failed") from exc

    def ensure_current(self) -> None:
        """Raise :class:`SchemaOutOfDate` unless the schema is at the newest revision."""
        try:
            current = current_heads(self.engine)
        except DBAPIError as exc:
            raise StorageError("cannot reach the database") from exc
        if current != head_revisions():
            raise SchemaOutOfDate(
                "the database schema is not current; run `garrison db upgrade`",
                current=sorted(current), head=head_revision(),
            )

    def revision(self) -> str | None:
        return current_revision(self.engine)

    # -- transactions -------------------------------------------------------------
    def _tx(self, conn: Connection) -> Tx:
        return Tx(
            conn=conn,
            principals=SQLPrincipalRepository(conn),
            api_keys=SQLAPIKeyRepository(conn),
            audit=_audit.SQLAuditWriter(
                conn, self.signer, self.clock, checkpoint_every=self.checkpoint_every,
                witness=self.witness, on_append=self.on_audit_append, on_tamper=self.on_tamper,
            ),
            models=SQLModelRepository(conn),
            sessions=SQLSessionRepository(conn),
            deployments=SQLDeploymentRepository(conn),
            seals=SQLSealRepository(conn),
        )

    @contextmanager
    def write(self) -> Iterator[Tx]:
        lock = self._write_lock
        notify: list[Callable[[], None]] = []
        if lock is not None:
            lock.acquire()
        try:
            with self.engine.connect().execution_options(garrison_write=True) as conn:
                tx = self._tx(conn)
                try:
                    with conn.begin():
                        yield tx
                except GarrisonError:
                    raise
                except self._driver_errors as exc:
                    raise StorageError("the database write failed") from exc
                for task in tx.audit.after_commit:  # Committed: now the outside world.
                    task()
                notify = tx.audit.after_release
        finally:
            if lock is not None:
                lock.release()
        # Callbacks that may write themselves (an alert) run once the lock is free.
        for task in notify:
            try:
                task()
            except Exception:
                log.exception("a post-commit notification failed")

    @contextmanager
    def read(self, *, snapshot: bool = False) -> Iterator[Tx]:
        """A read transaction; ``snapshot`` makes every statement in it see the same
        committed state (SQLite read transactions always do; PostgreSQL needs
        REPEATABLE READ, as its default READ COMMITTED re-reads per statement)."""
        try:
            with self.engine.connect() as conn:
                if snapshot and not is_sqlite(self.engine):
                    conn = conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    yield self._tx(conn)
        except GarrisonError:
            raise
        except self._driver_errors as exc:
            raise StorageError("the database read failed") from exc

    # -- the audit log as a standalone service (AuditLog protocol) -----------------
    def append(self, draft: AuditDraft) -> AuditRecord:
        with self.write() as tx:
            return tx.audit.append(draft)

    def append_many(self, drafts: list[AuditDraft]) -> list[AuditRecord]:
        with self.write() as tx:
            return tx.audit.append_many(drafts)

    def records(self, after_seq: int = 0, batch: int = 5000,
                until_seq: int | None = None) -> Iterator[AuditRecord]:
        with self.read() as tx:
            yield from _audit.read_records(tx.conn, after_seq, batch, until_seq)

    def query(self, q: AuditQuery) -> list[AuditRecord]:
        with self.read() as tx:
            return _audit.query_records(tx.conn, q)

    def latest_seq(self, actions: Sequence[str]) -> int:
        """The seq of the newest successful event of ``actions`` (0 if none)."""
        with self.read() as tx:
            return _audit.latest_seq(tx.conn, actions)

    def head(self) -> Checkpoint | None:
        with self.read() as tx:
            return _audit.read_head(tx.conn)

    def checkpoints(self) -> list[Checkpoint]:
        with self.read() as tx:
            return _audit.read_checkpoints(tx.conn)

    def checkpoint(self) -> Checkpoint:
        with self.write() as tx:
            return tx.audit.checkpoint()

    @contextmanager
    def audit_snapshot(self) -> Iterator[AuditSnapshot]:
        """The head, checkpoints, records and quarantine as of one instant (verification
        reads them all from it, so a concurrent append can never look like tampering)."""
        with self.read(snapshot=True) as tx:
            yield AuditSnapshot(tx.conn)

    # -- installation metadata ----------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self.read() as tx:
            row = tx.conn.execute(select(meta.c.value).where(meta.c.key == key)).first()
            return None if row is None else str(row[0])

    def dispose(self) -> None:
        self.engine.dispose()
