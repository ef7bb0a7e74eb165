"""messages

Revision ID: 0006_messages
Revises: 0005_idempotency
Create Date: 2026-11-22 15:08:44.298032
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base
from app.db import append_only
import app.db.base

revision: str = '0006_messages'
down_revision: str | None = '0005_idempotency'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('status_callback',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('message_sid', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('known', sa.Boolean(), nullable=False),
    sa.Column('received_at', app.db.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_status_callback')),
    sa.UniqueConstraint('message_sid', 'status', name=op.f('uq_status_callback_message_sid_status'))
    )
    with op.batch_alter_table('status_callback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_status_callback_message_sid'), ['message_sid'], unique=False)

    op.create_table('message',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('campaign_id', sa.String(length=40), nullable=False),
    sa.Column('subscriber_id', sa.String(length=40), nullable=False),
    sa.Column('consent_event_id', sa.String(length=40), nullable=True),
    sa.Column('to', sa.String(length=20), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('skip_reason', sa.String(length=200), nullable=True),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('provider_sid', sa.String(length=64), nullable=True),
    sa.Column('created_at', app.db.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.db.base.UTCDateTime(), nullable=True),
    sa.Column('sent_at', app.db.base.UTCDateTime(), nullable=True),
    sa.Column('delivered_at', app.db.base.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_message_campaign_id_campaign')),
    sa.ForeignKeyConstraint(['consent_event_id'], ['consent_event.id'], name=op.f('fk_message_consent_event_id_consent_event')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscriber.id'], name=op.f('fk_message_subscriber_id_subscriber')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message')),
    sa.UniqueConstraint('campaign_id', 'subscriber_id', name=op.f('uq_message_campaign_id_subscriber_id')),
    sa.UniqueConstraint('provider_sid', name=op.f('uq_message_provider_sid'))
    )
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.create_index('ix_message_campaign_state', ['campaign_id', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_message_subscriber_id'), ['subscriber_id'], unique=False)


    append_only.protect('status_callback')

def downgrade() -> None:
    append_only.unprotect('status_callback')
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_subscriber_id'))
        batch_op.drop_index('ix_message_campaign_state')

    op.drop_table('message')
    with op.batch_alter_table('status_callback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_status_callback_message_sid'))

    op.drop_table('status_callback')
