"""the company inbox: conversations, replies, agents' availability, the inbox event log

Revision ID: 2026_12_03_inbox
Revises: 20261203_secb_verify
Create Date: 2026-12-03 07:58:18.793113
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base
from app.db import append_only

revision: str = '2026_12_03_inbox'
down_revision: str | None = '20261203_secb_verify'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('conversation_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('conversation_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('at', app.db.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation_event'))
    )
    op.create_table('agent_status',
    sa.Column('user_id', sa.String(length=40), nullable=False),
    sa.Column('available', sa.Boolean(), nullable=False),
    sa.Column('last_assigned_at', app.db.base.UTCDateTime(), nullable=True),
    sa.Column('updated_at', app.db.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_agent_status_user_id_user')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_agent_status'))
    )
    op.create_table('conversation',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('sender_id', sa.String(length=40), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('assignee_id', sa.String(length=40), nullable=True),
    sa.Column('snoozed_until', app.db.base.UTCDateTime(), nullable=True),
    sa.Column('opened_at', app.db.base.UTCDateTime(), nullable=False),
    sa.Column('waiting_since', app.db.base.UTCDateTime(), nullable=True),
    sa.Column('first_response_at', app.db.base.UTCDateTime(), nullable=True),
    sa.Column('resolved_at', app.db.base.UTCDateTime(), nullable=True),
    sa.Column('last_inbound_at', app.db.base.UTCDateTime(), nullable=True),
    sa.Column('last_reply_at', app.db.base.UTCDateTime(), nullable=True),
    sa.Column('last_auto_reply_at', app.db.base.UTCDateTime(), nullable=True),
    sa.Column('last_activity_at', app.db.base.UTCDateTime(), nullable=False),
    sa.Column('created_at', app.db.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.db.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['assignee_id'], ['user.id'], name=op.f('fk_conversation_assignee_id_user')),
    sa.ForeignKeyConstraint(['sender_id'], ['sender.id'], name=op.f('fk_conversation_sender_id_sender')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation')),
    sa.UniqueConstraint('sender_id', 'phone', name=op.f('uq_conversation_sender_id_phone'))
    )
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.create_index('ix_conversation_assignee_activity', ['assignee_id', 'state', 'last_activity_at', 'id'], unique=False)
        batch_op.create_index('ix_conversation_snoozed', ['snoozed_until'], unique=False, postgresql_where=sa.text("state = 'snoozed'"), sqlite_where=sa.text("state = 'snoozed'"))
        batch_op.create_index('ix_conversation_state_activity', ['state', 'last_activity_at', 'id'], unique=False)

    op.create_table('reply',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('conversation_id', sa.String(length=40), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('author_id', sa.String(length=40), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('findings', sa.JSON(), nullable=False),
    sa.Column('not_before', app.db.base.UTCDateTime(), nullable=True),
    sa.Column('reviewer_id', sa.String(length=40), nullable=True),
    sa.Column('reviewed_at', app.db.base.UTCDateTime(), nullable=True),
    sa.Column('review_comment', sa.Text(), nullable=True),
    sa.Column('provider_sid', sa.String(length=64), nullable=True),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('slot_at', app.db.base.UTCDateTime(), nullable=True),
    sa.Column('claimed_at', app.db.base.UTCDateTime(), nullable=True),
    sa.Column('created_at', app.db.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.db.base.UTCDateTime(), nullable=False),
    sa.Column('sent_at', app.db.base.UTCDateTime(), nullable=True),
    sa.Column('delivered_at', app.db.base.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'], name=op.f('fk_reply_author_id_user')),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversation.id'], name=op.f('fk_reply_conversation_id_conversation')),
    sa.ForeignKeyConstraint(['reviewer_id'], ['user.id'], name=op.f('fk_reply_reviewer_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reply')),
    sa.UniqueConstraint('provider_sid', name=op.f('uq_reply_provider_sid'))
    )
    with op.batch_alter_table('reply', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reply_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index('ix_reply_due', ['not_before'], unique=False, postgresql_where=sa.text("state IN ('queued', 'scheduled')"), sqlite_where=sa.text("state IN ('queued', 'scheduled')"))
        batch_op.create_index('ix_reply_state', ['state'], unique=False)

    with op.batch_alter_table('inbound_message', schema=None) as batch_op:
        batch_op.create_index('ix_inbound_message_from_phone', ['from_phone', 'received_at'], unique=False)
    append_only.protect('conversation_event')



def downgrade() -> None:
    append_only.unprotect('conversation_event')
    with op.batch_alter_table('inbound_message', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_message_from_phone')

    with op.batch_alter_table('reply', schema=None) as batch_op:
        batch_op.drop_index('ix_reply_state')
        batch_op.drop_index('ix_reply_due', postgresql_where=sa.text("state IN ('queued', 'scheduled')"), sqlite_where=sa.text("state IN ('queued', 'scheduled')"))
        batch_op.drop_index(batch_op.f('ix_reply_conversation_id'))

    op.drop_table('reply')
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.drop_index('ix_conversation_state_activity')
        batch_op.drop_index('ix_conversation_snoozed', postgresql_where=sa.text("state = 'snoozed'"), sqlite_where=sa.text("state = 'snoozed'"))
        batch_op.drop_index('ix_conversation_assignee_activity')

    op.drop_table('conversation')
    op.drop_table('agent_status')
    op.drop_table('conversation_event')
