"""Registry: models, immutable versions and their stage transitions.

Revision ID: 0002_registry
Revises: 0001_foundation
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_registry"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

TS = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("created", TS, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("name", sa.String(64), sa.ForeignKey("models.name"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("framework", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("registrant", sa.String(64), nullable=False),
        sa.Column("created", TS, nullable=False),
        sa.Column("manifest", sa.Text, nullable=False),
        sa.Column("scan_report", sa.Text, nullable=False),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("stage_changed", TS, nullable=False),
    )
    op.create_table(
        "model_transitions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("from_stage", sa.String(16), nullable=False),
        sa.Column("to_stage", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created", TS, nullable=False),
    )
    op.create_index("ix_model_transitions_name", "model_transitions", ["name"])


def downgrade() -> None:
    for table in ("model_transitions", "model_versions", "models"):
        op.drop_table(table)
