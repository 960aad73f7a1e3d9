"""Web console sessions and monitoring history; created by migration ``0017_console``.

``console_sessions`` holds one row per console sign-in, keyed by the SHA-256 of the
session token (the cookie itself is never stored). ``drift_windows`` keeps every closed
drift window of a served model version, drifted or not, so drift can be drawn over time.
``traffic`` counts requests, rejections and fallbacks per model version and minute; the
gateway workers add their counts to the same rows.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, Integer, String, Table, Text

from garrison.storage.tables import TS, metadata

__all__ = ["console_sessions", "drift_windows", "traffic"]

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("ref", String(16), nullable=False, unique=True),
    Column("principal_id", String(36), ForeignKey("principals.id"), nullable=False),
    Column("method", String(16), nullable=False),
    Column("key_id", String(36), nullable=True),
    Column("csrf", String(64), nullable=False),
    Column("client", String(64), nullable=False),
    Column("created", TS, nullable=False),
    Column("last_seen", TS, nullable=False),
    Column("expires", TS, nullable=False),
    Column("revoked", TS, nullable=True),
    Column("revoked_by", String(128), nullable=True),
    Column("opened_seq", BigInteger, nullable=True),
)
Index("ix_console_sessions_principal_id", console_sessions.c.principal_id)
Index("ix_console_sessions_expires", console_sessions.c.expires)

drift_windows = Table(
    "drift_windows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created", TS, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("drifted", Boolean, nullable=False),
    Column("features", Text, nullable=False),
)
Index("ix_drift_windows_model_created", drift_windows.c.model, drift_windows.c.created)

traffic = Table(
    "traffic",
    metadata,
    Column("model", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("minute", TS, primary_key=True),
    Column("requests", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("rejections", BigInteger, nullable=False),
    Column("fallbacks", BigInteger, nullable=False),
)
Index("ix_traffic_minute", traffic.c.minute)
