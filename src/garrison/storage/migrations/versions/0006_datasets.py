"""Datasets: the dataset registry and the lineage graph (nodes and edges).

Revision ID: 0006_datasets
Revises: 0003_gateway
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_datasets"
down_revision = "0003_gateway"
branch_labels = None
depends_on = None

TS = sa.String(32)
KEY = sa.String(512)


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("row_count", sa.BigInteger, nullable=False),
        sa.Column("column_types", sa.Text, nullable=False),
        sa.Column("schema_digest", sa.String(64), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("registrant", sa.String(64), nullable=False),
        sa.Column("created", TS, nullable=False),
        sa.Column("target", sa.String(256), nullable=True),
        sa.Column("scan_report", sa.Text, nullable=False),
        sa.Column("poison_report", sa.Text, nullable=True),
    )
    op.create_index("ix_datasets_name_digest", "datasets", ["name", "digest"])
    op.create_table(
        "lineage_nodes",
        sa.Column("node_key", KEY, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("ix_lineage_nodes_kind_name", "lineage_nodes", ["kind", "name"])
    op.create_table(
        "lineage_edges",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", KEY, nullable=False),
        sa.Column("target", KEY, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.UniqueConstraint("source", "target", "kind", name="uq_lineage_edges_source_target_kind"),
    )
    op.create_index("ix_lineage_edges_source", "lineage_edges", ["source"])
    op.create_index("ix_lineage_edges_target", "lineage_edges", ["target"])


def downgrade() -> None:
    op.drop_table("lineage_edges")
    op.drop_table("lineage_nodes")
    op.drop_table("datasets")
