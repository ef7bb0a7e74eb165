"""confirmation texts keep the sender's limits: a send slot and a not-before on each outbound text

Revision ID: 2026_12_03_outbound_slots
Revises: 2026_12_03_campaign_report
Create Date: 2026-12-03 20:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa

import app.db.base
from alembic import op

revision: str = '2026_12_03_outbound_slots'
down_revision: str | None = '2026_12_03_campaign_report'  # main's head when this was written
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbound_text') as batch_op:
        batch_op.add_column(sa.Column('not_before', app.db.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('slot_at', app.db.base.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbound_text') as batch_op:
        batch_op.drop_column('slot_at')
        batch_op.drop_column('not_before')
