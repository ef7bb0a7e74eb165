"""segments: saved audience filters, and a campaign's own filter (issue 18)

- segment: a name and a normalised filter (app/targeting/filters.py), never edited.
- campaign.segment_id (where its filter came from, if saved) and campaign.audience_filter (the
  filter itself, copied: the approval hash covers it). NULL: the whole of the lists, as before.

Revision ID: 2026_12_03_segments
Revises: 0010_status_callback_pending
Create Date: 2026-12-03 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base

revision: str = '2026_12_03_segments'
down_revision: str | None = '2026_12_03_frequency_cap'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('segment',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('filter', sa.JSON(), nullable=False),
    sa.Column('created_by_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', app.db.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_segment_created_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_segment'))
    )
    # Plain ADD COLUMN (no batch copy of campaign: the messages, lists and reviews point at it);
    # SQLite takes the foreign key as a column constraint of the added column.
    op.add_column('campaign', sa.Column('audience_filter', sa.JSON(), nullable=True))
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE campaign ADD COLUMN segment_id VARCHAR(40) '
                   'CONSTRAINT fk_campaign_segment_id_segment REFERENCES segment (id)')
    else:
        op.add_column('campaign', sa.Column('segment_id', sa.String(length=40), nullable=True))
        op.create_foreign_key(op.f('fk_campaign_segment_id_segment'), 'campaign', 'segment', ['segment_id'], ['id'])


def downgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint(op.f('fk_campaign_segment_id_segment'), 'campaign', type_='foreignkey')
    op.execute('ALTER TABLE campaign DROP COLUMN segment_id')
    op.execute('ALTER TABLE campaign DROP COLUMN audience_filter')
    op.drop_table('segment')
