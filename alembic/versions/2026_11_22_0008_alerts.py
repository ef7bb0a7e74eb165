"""alerts

Revision ID: 0008_alerts
Revises: 0007_dispatch
Create Date: 2026-11-22 15:42:13.819932
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base
import app.db.base

revision: str = '0008_alerts'
down_revision: str | None = '0007_dispatch'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('alert',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('campaign_id', sa.String(length=40), nullable=False),
    sa.Column('sender_id', sa.String(length=40), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('opened_at', app.db.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.db.base.UTCDateTime(), nullable=False),
    sa.Column('acknowledged_at', app.db.base.UTCDateTime(), nullable=True),
    sa.Column('acknowledged_by_id', sa.String(length=40), nullable=True),
    sa.Column('resolved_at', app.db.base.UTCDateTime(), nullable=True),
    sa.Column('resolved_by_id', sa.String(length=40), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('notify_state', sa.String(length=16), nullable=False),
    sa.Column('notify_attempts', sa.Integer(), nullable=False),
    sa.Column('notify_next_at', app.db.base.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['acknowledged_by_id'], ['user.id'], name=op.f('fk_alert_acknowledged_by_id_user')),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['user.id'], name=op.f('fk_alert_resolved_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert'))
    )
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_state'), ['state'], unique=False)
        batch_op.create_index('uq_alert_unresolved', ['kind', 'campaign_id', 'sender_id'], unique=True, postgresql_where=sa.text("state != 'resolved'"), sqlite_where=sa.text("state != 'resolved'"))

    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused_by_guard', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('delivered_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('failed_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('opt_out_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('canary_released_at', app.db.base.UTCDateTime(), nullable=True))

    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('held', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('opted_out_at', app.db.base.UTCDateTime(), nullable=True))
        batch_op.create_index('ix_message_to_sent', ['to', 'sent_at'], unique=False)
        # The claim's partial index now also leaves out messages held behind a canary slice.
        batch_op.drop_index('ix_message_queued')
        batch_op.create_index('ix_message_queued', ['id'], unique=False,
                              postgresql_where=sa.text("state = 'queued' AND NOT held"),
                              sqlite_where=sa.text("state = 'queued' AND NOT held"))



def downgrade() -> None:
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('ix_message_to_sent')
        batch_op.drop_index('ix_message_queued')
        batch_op.create_index('ix_message_queued', ['id'], unique=False, postgresql_where=sa.text("state = 'queued'"),
                              sqlite_where=sa.text("state = 'queued'"))
        batch_op.drop_column('opted_out_at')
        batch_op.drop_column('held')

    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_column('canary_released_at')
        batch_op.drop_column('opt_out_count')
        batch_op.drop_column('failed_count')
        batch_op.drop_column('delivered_count')
        batch_op.drop_column('paused_by_guard')

    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_index('uq_alert_unresolved', postgresql_where=sa.text("state != 'resolved'"), sqlite_where=sa.text("state != 'resolved'"))
        batch_op.drop_index(batch_op.f('ix_alert_state'))

    op.drop_table('alert')
