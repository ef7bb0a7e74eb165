"""the frequency cap: company settings, campaign.transactional, message.contacted_at, contact_ledger

Issue 18 (part 2): at most N marketing messages per phone number in a rolling window, held at
materialisation and again right before sending (app/dispatch/frequency.py). A campaign marked
transactional is exempt (bound by its approval). Campaigns approved before keep their approval
(a marketing campaign hashes as before) and are capped from now on.

Revision ID: 2026_12_03_frequency_cap
Revises: 0010_status_callback_pending
Create Date: 2026-12-03 11:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base

revision: str = '2026_12_03_frequency_cap'
down_revision: str | None = '0010_status_callback_pending'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('company_settings',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('frequency_cap_messages', sa.Integer(), nullable=False),
    sa.Column('frequency_cap_hours', sa.Float(), nullable=False),
    sa.Column('updated_at', app.db.base.UTCDateTime(), nullable=False),
    sa.Column('updated_by_id', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user.id'], name=op.f('fk_company_settings_updated_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_company_settings'))
    )
    op.create_table('contact_ledger',
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('last_checked_at', app.db.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('phone', name=op.f('pk_contact_ledger'))
    )
    # Plain ADD COLUMN (no batch copy of the campaign and message tables, which others point at).
    op.add_column('campaign', sa.Column('transactional', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('message', sa.Column('contacted_at', app.db.base.UTCDateTime(), nullable=True))
    op.create_index('ix_message_contacted', 'message', ['to', 'contacted_at'], unique=False,
                    postgresql_where=sa.text('contacted_at IS NOT NULL'),
                    sqlite_where=sa.text('contacted_at IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_message_contacted', table_name='message', postgresql_where=sa.text('contacted_at IS NOT NULL'),
                  sqlite_where=sa.text('contacted_at IS NOT NULL'))
    op.execute('ALTER TABLE message DROP COLUMN contacted_at')
    op.execute('ALTER TABLE campaign DROP COLUMN transactional')
    op.drop_table('contact_ledger')
    op.drop_table('company_settings')
