"""dispatch

Revision ID: 0007_dispatch
Revises: 0006_messages
Create Date: 2026-11-22 15:15:45.121518
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base
import app.db.base

revision: str = '0007_dispatch'
down_revision: str | None = '0006_messages'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sender_rate',
    sa.Column('sender_id', sa.String(length=40), nullable=False),
    sa.Column('next_at', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['sender_id'], ['sender.id'], name=op.f('fk_sender_rate_sender_id_sender')),
    sa.PrimaryKeyConstraint('sender_id', name=op.f('pk_sender_rate'))
    )
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('not_before', app.db.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', app.db.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('lease_expires_at', app.db.base.UTCDateTime(), nullable=True))
        batch_op.create_index('ix_message_leased', ['lease_expires_at'], unique=False, postgresql_where=sa.text("state IN ('sending', 'unknown')"), sqlite_where=sa.text("state IN ('sending', 'unknown')"))
        batch_op.create_index('ix_message_queued', ['id'], unique=False, postgresql_where=sa.text("state = 'queued'"), sqlite_where=sa.text("state = 'queued'"))



def downgrade() -> None:
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('ix_message_queued', postgresql_where=sa.text("state = 'queued'"), sqlite_where=sa.text("state = 'queued'"))
        batch_op.drop_index('ix_message_leased', postgresql_where=sa.text("state IN ('sending', 'unknown')"), sqlite_where=sa.text("state IN ('sending', 'unknown')"))
        batch_op.drop_column('lease_expires_at')
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('not_before')
        batch_op.drop_column('attempts')

    op.drop_table('sender_rate')
