"""Decision records: the client's request id is a plain column, and every record carries
its writer's id and sequence number so that a lost record leaves a visible gap.

Revision ID: 0009_decision_accounting
Revises: 0008_audit_quarantine
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_decision_accounting"
down_revision = "0008_audit_quarantine"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Older records keep NULL: they were written before numbering existed and take no
    # part in the accounting (their batches are still checked against their anchors).
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("client_request_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("writer", sa.String(32), nullable=True))
        batch.add_column(sa.Column("wseq", sa.BigInteger, nullable=True))
    op.create_index("ix_decisions_client_request_id", "decisions", ["client_request_id"])
    op.create_index("ix_decisions_writer_wseq", "decisions", ["writer", "wseq"])


def downgrade() -> None:
    op.drop_index("ix_decisions_writer_wseq", table_name="decisions")
    op.drop_index("ix_decisions_client_request_id", table_name="decisions")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("wseq")
        batch.drop_column("writer")
        batch.drop_column("client_request_id")
