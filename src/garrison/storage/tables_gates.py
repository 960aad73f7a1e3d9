"""Tables of the release gates: policy revisions, gate reports and overrides.

Each row keeps its signed envelope (JSON text); the other columns only find rows. The
gate workflow trusts nothing but the verified envelope, so an edited column changes
nothing and an edited envelope fails its signature.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, String, Table, Text

from garrison.storage.tables import TS, metadata

__all__ = ["gate_overrides", "gate_policies", "gate_reports"]

gate_policies = Table(
    "gate_policies",
    metadata,
    Column("model", String(64), primary_key=True),
    Column("revision", Integer, primary_key=True, autoincrement=False),
    Column("digest", String(64), nullable=False),
    Column("set_by", String(128), nullable=False),
    Column("created", TS, nullable=False),
    Column("envelope", Text, nullable=False),
)

gate_reports = Table(
    "gate_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created", TS, nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("policy_digest", String(64), nullable=False),
    Column("envelope", Text, nullable=False),
)
Index("ix_gate_reports_model_version", gate_reports.c.model, gate_reports.c.version,
      gate_reports.c.id)

gate_overrides = Table(
    "gate_overrides",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("model", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created", TS, nullable=False),
    Column("requested_by", String(128), nullable=False),
    Column("request", Text, nullable=False),
    Column("approved_by", String(128), nullable=True),
    Column("approved_at", TS, nullable=True),
    Column("approval", Text, nullable=True),
)
Index("ix_gate_overrides_model_version", gate_overrides.c.model, gate_overrides.c.version)
