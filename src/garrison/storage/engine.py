"""Engines for the two supported backends, tuned for Garrison's access pattern.

SQLite (the embedded default): WAL journal, ``synchronous=NORMAL``, a 30 s busy
timeout, foreign keys on, and write transactions opened with ``BEGIN IMMEDIATE``
so concurrent writers queue on the database lock instead of failing half-way.
PostgreSQL: psycopg 3 (``postgresql+psycopg://``), a small pool, pre-ping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from garrison.errors import ConfigurationError

__all__ = ["dbapi_cursor", "is_sqlite", "make_engine"]


def dbapi_cursor(conn: Connection) -> tuple[Any, str]:
    """A raw DBAPI cursor on ``conn``'s connection and the driver's placeholder (``?`` for
    sqlite3, ``%s`` for psycopg), for the few hot statements that bypass SQLAlchemy's
    per-row processing. Statements built with it stay parameterized."""
    raw = conn.connection.dbapi_connection
    assert raw is not None
    return raw.cursor(), "?" if conn.dialect.paramstyle == "qmark" else "%s"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _sqlite_engine(url: Any) -> Engine:
    database = url.database or ""
    memory = database in ("", ":memory:")
    if not memory:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    if memory:
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy's "begin" hook issues BEGIN itself.
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("garrison_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def make_engine(url: str) -> Engine:
    """Create an engine for ``sqlite:///path`` or ``postgresql+psycopg://...``."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError("the database URL is malformed") from exc
    backend = parsed.get_backend_name()
    try:
        if backend == "sqlite":
            return _sqlite_engine(parsed)
        if backend == "postgresql":
            if parsed.drivername == "postgresql":
                parsed = parsed.set(drivername="postgresql+psycopg")
            return create_engine(parsed, pool_size=5, max_overflow=10, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigurationError(
            f"the {backend} driver is not installed (pip install 'garrison[postgres]')"
        ) from exc
    raise ConfigurationError(f"unsupported database backend {backend!r}")
