"""SQLAlchemy Core tables: one schema for SQLite (default) and PostgreSQL.

Times are stored as canonical UTC ISO-8601 text (``2026-01-02T03:04:05.000006Z``):
it sorts correctly, is identical on both backends and is exactly what the audit
hash covers. Later issues add their tables here and a new Alembic revision.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = [
    "api_keys",
    "audit_checkpoints",
    "audit_events",
    "audit_head",
    "audit_quarantine",
    "meta",
    "metadata",
    "principal_roles",
    "principals",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TS = String(32)

meta = Table(
    "garrison_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

principals = Table(
    "principals",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created", TS, nullable=False),
)

principal_roles = Table(
    "principal_roles",
    metadata,
    Column("principal_id", String(36), ForeignKey("principals.id"), primary_key=True),
    Column("role", String(32), primary_key=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("prefix", String(16), nullable=False, unique=True),
    Column("principal_id", String(36), ForeignKey("principals.id"), nullable=False, index=True),
    Column("name", String(128), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("created", TS, nullable=False),
    Column("expires", TS, nullable=True),
    Column("revoked", TS, nullable=True),
    Column("last_used", TS, nullable=True),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=False),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("created", TS, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("resource", String(256), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
Index("ix_audit_events_actor", audit_events.c.actor)
Index("ix_audit_events_action", audit_events.c.action)
Index("ix_audit_events_created", audit_events.c.created)
Index("ix_audit_events_request_id", audit_events.c.request_id)
Index("ix_audit_events_resource", audit_events.c.resource)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("created", TS, nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("signature", LargeBinary, nullable=False),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=False),
    Column("hash", String(64), nullable=False),
    Column("created", TS, nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("signature", LargeBinary, nullable=False),
)

#: Records that were found past the signed head (never appended by Garrison) and moved
#: out of the chain by the next append, kept as evidence (``quarantine-audit-events``).
audit_quarantine = Table(
    "audit_quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("quarantined_at_seq", BigInteger, nullable=False),
    Column("head_seq", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("created", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("resource", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("request_id", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False),
)

models = Table(
    "models",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("created", TS, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("description", Text, nullable=False, default=""),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("name", String(64), ForeignKey("models.name"), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("stage", String(16), nullable=False),
    Column("format", String(32), nullable=False),
    Column("framework", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("registrant", String(64), nullable=False),
    Column("created", TS, nullable=False),
    Column("manifest", Text, nullable=False),
    Column("scan_report", Text, nullable=False),
    Column("metadata", Text, nullable=False),
    Column("stage_changed", TS, nullable=False),
)

model_transitions = Table(
    "model_transitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("from_stage", String(16), nullable=False),
    Column("to_stage", String(16), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created", TS, nullable=False),
)

__all__ += ["model_transitions", "model_versions", "models"]

deployments = Table(
    "deployments",
    metadata,
    Column("name", String(64), ForeignKey("models.name"), primary_key=True),
    Column("config", Text, nullable=False),
    Column("updated", TS, nullable=False),
    Column("updated_by", String(64), nullable=False),
)

decisions = Table(
    "decisions",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("created", TS, nullable=False),
    Column("caller", String(128), nullable=False),
    Column("model", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("outputs", Text, nullable=False),
    Column("inputs", Text, nullable=True),
    Column("input_policy", String(16), nullable=False),
    Column("fallback", String(64), nullable=False),
    Column("flags", Text, nullable=False),
    Column("explanation", Text, nullable=True),
    Column("latency_ms", Integer, nullable=False),
    # The seq of the audit event whose payload carries this record's batch digest.
    Column("anchor_seq", BigInteger, nullable=True),
    # The client's X-Request-ID, recorded as given: never a key (request_id is the
    # server's own id).
    Column("client_request_id", String(64), nullable=True),
    # The gateway worker's decision log and this record's number in it (1, 2, ...): a
    # missing number is a lost record (``audit decisions``).
    Column("writer", String(32), nullable=True),
    Column("wseq", BigInteger, nullable=True),
)
Index("ix_decisions_model_created", decisions.c.model, decisions.c.created)
Index("ix_decisions_anchor_seq", decisions.c.anchor_seq)
Index("ix_decisions_client_request_id", decisions.c.client_request_id)
Index("ix_decisions_writer_wseq", decisions.c.writer, decisions.c.wseq)

__all__ += ["decisions", "deployments"]

#: One signature per piece of governance state that grants power (a principal's roles
#: and status, an API key, a model version's stage, a deployment policy), made with the
#: installation's signing key over the state and the seq of the audit event that
#: recorded it (``garrison.governance.seals``). A row without a valid, current seal is
#: refused, so SQL alone cannot grant power.
state_seals = Table(
    "state_seals",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("signature", LargeBinary, nullable=False),
)

__all__ += ["state_seals"]
