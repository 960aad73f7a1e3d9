"""Alerts raised by detection: stored, listed and acknowledged.

Revision ID: 0005_alerts
Revises: 0003_gateway
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_alerts"
down_revision = "0003_gateway"
branch_labels = None
depends_on = None

TS = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("caller", sa.String(128), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("created", TS, nullable=False),
        sa.Column("acknowledged", TS, nullable=True),
        sa.Column("acknowledged_by", sa.String(128), nullable=True),
    )
    op.create_index("ix_alerts_created", "alerts", ["created"])
    op.create_index("ix_alerts_kind_created", "alerts", ["kind", "created"])
    op.create_index("ix_alerts_caller_created", "alerts", ["caller", "created"])


def downgrade() -> None:
    op.drop_table("alerts")
