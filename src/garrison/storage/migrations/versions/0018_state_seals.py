"""Governance state seals: signatures binding power-granting rows to the audit trail.

Revision ID: 0018_state_seals
Revises: 0003_gateway
Create Date: 2026-12-07

``garrison db upgrade`` then seals the rows that predate this table, once, when the
signing keys are at hand (``garrison.app.home.upgrade_database``).
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_state_seals"
down_revision = "0003_gateway"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "state_seals",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("state_seals")
