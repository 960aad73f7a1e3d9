"""Web console sessions, drift windows over time, and traffic per model and minute.

Revision ID: 0017_console
Revises: 0003_gateway
Create Date: 2026-12-20
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_console"
down_revision = "0003_gateway"
branch_labels = None
depends_on = None

TS = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("ref", sa.String(16), nullable=False, unique=True),
        sa.Column("principal_id", sa.String(36), sa.ForeignKey("principals.id"),
                  nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("key_id", sa.String(36), nullable=True),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("created", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
        sa.Column("expires", TS, nullable=False),
        sa.Column("revoked", TS, nullable=True),
        sa.Column("revoked_by", sa.String(128), nullable=True),
        sa.Column("opened_seq", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_console_sessions_principal_id", "console_sessions", ["principal_id"])
    op.create_index("ix_console_sessions_expires", "console_sessions", ["expires"])
    op.create_table(
        "drift_windows",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created", TS, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("drifted", sa.Boolean, nullable=False),
        sa.Column("features", sa.Text, nullable=False),
    )
    op.create_index("ix_drift_windows_model_created", "drift_windows", ["model", "created"])
    op.create_table(
        "traffic",
        sa.Column("model", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("minute", TS, primary_key=True),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("rejections", sa.BigInteger, nullable=False),
        sa.Column("fallbacks", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_traffic_minute", "traffic", ["minute"])


def downgrade() -> None:
    op.drop_table("traffic")
    op.drop_table("drift_windows")
    op.drop_table("console_sessions")
