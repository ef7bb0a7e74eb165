"""status callbacks waiting to be applied: the applier's queue beside the append-only record

Revision ID: 0010_status_callback_pending
Revises: 2026_12_03_inbox
Create Date: 2026-12-03 09:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010_status_callback_pending'
down_revision: str | None = '2026_12_03_inbox'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('status_callback_pending',
    sa.Column('callback_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('callback_id', name=op.f('pk_status_callback_pending'))
    )


def downgrade() -> None:
    op.drop_table('status_callback_pending')
