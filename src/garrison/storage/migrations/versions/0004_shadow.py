"""Shadow deployments: one row per mirrored request and shadow version.

Revision ID: 0004_shadow
Revises: 0003_gateway
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_shadow"
down_revision = "0003_gateway"
branch_labels = None
depends_on = None

TS = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "shadow_observations",
        sa.Column("model", sa.String(64), primary_key=True),
        sa.Column("shadow_version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("primary_version", sa.Integer, nullable=False),
        sa.Column("created", TS, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("primary_labels", sa.Text, nullable=True),
        sa.Column("shadow_labels", sa.Text, nullable=True),
        sa.Column("primary_scores", sa.Text, nullable=True),
        sa.Column("shadow_scores", sa.Text, nullable=True),
        sa.Column("primary_latency_ms", sa.Float, nullable=False),
        sa.Column("shadow_latency_ms", sa.Float, nullable=True),
        sa.Column("primary_error", sa.Text, nullable=True),
        sa.Column("shadow_error", sa.Text, nullable=True),
    )
    op.create_index("ix_shadow_observations_model_version_created", "shadow_observations",
                    ["model", "shadow_version", "created"])
    op.create_index("ix_shadow_observations_created", "shadow_observations", ["created"])


def downgrade() -> None:
    op.drop_table("shadow_observations")
