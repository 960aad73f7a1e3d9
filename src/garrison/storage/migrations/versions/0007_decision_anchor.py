"""Decision records point at the audit event that anchors their batch.

Revision ID: 0007_decision_anchor
Revises: 0003_gateway
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_decision_anchor"
down_revision = "0003_gateway"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Records written before this revision keep NULL: `audit decisions` reports them as
    # unanchored rather than pretending they were checked.
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("anchor_seq", sa.BigInteger, nullable=True))
    op.create_index("ix_decisions_anchor_seq", "decisions", ["anchor_seq"])


def downgrade() -> None:
    op.drop_index("ix_decisions_anchor_seq", table_name="decisions")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("anchor_seq")
