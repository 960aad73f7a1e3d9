"""Gateway: per-model deployment configuration and decision records.

Revision ID: 0003_gateway
Revises: 0002_registry
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_gateway"
down_revision = "0002_registry"
branch_labels = None
depends_on = None

TS = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("name", sa.String(64), sa.ForeignKey("models.name"), primary_key=True),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("updated", TS, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
    )
    op.create_table(
        "decisions",
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("created", TS, nullable=False),
        sa.Column("caller", sa.String(128), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("outputs", sa.Text, nullable=False),
        sa.Column("inputs", sa.Text, nullable=True),
        sa.Column("input_policy", sa.String(16), nullable=False),
        sa.Column("fallback", sa.String(64), nullable=False),
        sa.Column("flags", sa.Text, nullable=False),
        sa.Column("explanation", sa.Text, nullable=True),
        sa.Column("latency_ms", sa.Integer, nullable=False),
    )
    op.create_index("ix_decisions_model_created", "decisions", ["model", "created"])


def downgrade() -> None:
    op.drop_table("decisions")
    op.drop_table("deployments")
