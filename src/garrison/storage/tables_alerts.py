"""Alert tables (see ``garrison.serving.alerts``); created by migration ``0005_alerts``."""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table, Text

from garrison.storage.tables import TS, metadata

__all__ = ["alerts"]

alerts = Table(
    "alerts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("caller", String(128), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    Column("created", TS, nullable=False),
    Column("acknowledged", TS, nullable=True),
    Column("acknowledged_by", String(128), nullable=True),
)
Index("ix_alerts_created", alerts.c.created)
Index("ix_alerts_kind_created", alerts.c.kind, alerts.c.created)
Index("ix_alerts_caller_created", alerts.c.caller, alerts.c.created)
