"""Release gates: policy revisions, signed gate reports and two-person overrides.

Revision ID: 0016_gates
Revises: 0003_gateway
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_gates"
down_revision = "0003_gateway"
branch_labels = None
depends_on = None

TS = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "gate_policies",
        sa.Column("model", sa.String(64), primary_key=True),
        sa.Column("revision", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("set_by", sa.String(128), nullable=False),
        sa.Column("created", TS, nullable=False),
        sa.Column("envelope", sa.Text, nullable=False),
    )
    op.create_table(
        "gate_reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created", TS, nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("policy_digest", sa.String(64), nullable=False),
        sa.Column("envelope", sa.Text, nullable=False),
    )
    op.create_index("ix_gate_reports_model_version", "gate_reports",
                    ["model", "version", "id"])
    op.create_table(
        "gate_overrides",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created", TS, nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("approved_by", sa.String(128), nullable=True),
        sa.Column("approved_at", TS, nullable=True),
        sa.Column("approval", sa.Text, nullable=True),
    )
    op.create_index("ix_gate_overrides_model_version", "gate_overrides", ["model", "version"])


def downgrade() -> None:
    op.drop_index("ix_gate_overrides_model_version", table_name="gate_overrides")
    op.drop_table("gate_overrides")
    op.drop_index("ix_gate_reports_model_version", table_name="gate_reports")
    op.drop_table("gate_reports")
    op.drop_table("gate_policies")
