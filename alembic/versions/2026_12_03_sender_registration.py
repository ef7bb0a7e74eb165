"""sender registration: the carriers' verdict, the daily cap it sets, and each sender's use of it per day

Revision ID: 0009_sender_registration
Revises: 2026_12_03_campaign_state
Create Date: 2026-12-03 08:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009_sender_registration'
down_revision: str | None = '2026_12_03_campaign_state'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD/DROP COLUMN (SQLite >= 3.35 has both): a batch copy of the sender table would trip
    # the foreign keys of every campaign and list pointing at it.
    op.add_column('sender', sa.Column('registration', sa.JSON(), nullable=True))
    op.add_column('sender', sa.Column('daily_cap', sa.Integer(), nullable=True))
    op.create_table('sender_quota',
    sa.Column('sender_id', sa.String(length=40), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('used', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['sender_id'], ['sender.id'], name=op.f('fk_sender_quota_sender_id_sender')),
    sa.PrimaryKeyConstraint('sender_id', 'day', name=op.f('pk_sender_quota'))
    )


def downgrade() -> None:
    op.drop_table('sender_quota')
    op.execute('ALTER TABLE sender DROP COLUMN daily_cap')
    op.execute('ALTER TABLE sender DROP COLUMN registration')
