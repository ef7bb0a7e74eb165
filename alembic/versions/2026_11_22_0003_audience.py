"""audience

Revision ID: 0003_audience
Revises: 0002_senders
Create Date: 2026-11-22 15:00:49.921662
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base
from app.db import append_only
import app.db.base

revision: str = '0003_audience'
down_revision: str | None = '0002_senders'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('inbound_message',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('message_sid', sa.String(length=64), nullable=False),
    sa.Column('from_phone', sa.String(length=32), nullable=False),
    sa.Column('to', sa.String(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('classification', sa.String(length=16), nullable=False),
    sa.Column('received_at', app.db.base.UTCDateTime(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_message')),
    sa.UniqueConstraint('message_sid', name=op.f('uq_inbound_message_message_sid'))
    )
    op.create_table('subscriber',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('first_name', sa.String(length=200), nullable=True),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('time_zones', sa.JSON(), nullable=False),
    sa.Column('us_state', sa.String(length=2), nullable=True),
    sa.Column('opted_out_at', app.db.base.UTCDateTime(), nullable=True),
    sa.Column('invalid_reason', sa.String(length=200), nullable=True),
    sa.Column('created_at', app.db.base.UTCDateTime(), nullable=False),
    sa.Column('erased_at', app.db.base.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriber')),
    sa.UniqueConstraint('phone', name=op.f('uq_subscriber_phone'))
    )
    op.create_table('suppression',
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('opted_out_at', app.db.base.UTCDateTime(), nullable=False),
    sa.Column('lifted_at', app.db.base.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('phone', name=op.f('pk_suppression'))
    )
    op.create_table('outbound_text',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('purpose', sa.String(length=24), nullable=False),
    sa.Column('sender_id', sa.String(length=40), nullable=False),
    sa.Column('subscriber_id', sa.String(length=40), nullable=False),
    sa.Column('to', sa.String(length=20), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('provider_sid', sa.String(length=64), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('created_at', app.db.base.UTCDateTime(), nullable=False),
    sa.Column('sent_at', app.db.base.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['sender_id'], ['sender.id'], name=op.f('fk_outbound_text_sender_id_sender')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscriber.id'], name=op.f('fk_outbound_text_subscriber_id_subscriber')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbound_text'))
    )
    with op.batch_alter_table('outbound_text', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbound_text_state'), ['state'], unique=False)

    op.create_table('subscriber_list',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('opt_in', sa.String(length=8), nullable=False),
    sa.Column('sender_id', sa.String(length=40), nullable=True),
    sa.Column('confirmation_text', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', app.db.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_subscriber_list_created_by_id_user')),
    sa.ForeignKeyConstraint(['sender_id'], ['sender.id'], name=op.f('fk_subscriber_list_sender_id_sender')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriber_list'))
    )
    op.create_table('consent_event',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('subscriber_id', sa.String(length=40), nullable=False),
    sa.Column('list_id', sa.String(length=40), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('evidence', sa.Text(), nullable=True),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('consented_at', app.db.base.UTCDateTime(), nullable=False),
    sa.Column('recorded_at', app.db.base.UTCDateTime(), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('inbound_sid', sa.String(length=64), nullable=True),
    sa.Column('actor_id', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['user.id'], name=op.f('fk_consent_event_actor_id_user')),
    sa.ForeignKeyConstraint(['list_id'], ['subscriber_list.id'], name=op.f('fk_consent_event_list_id_subscriber_list')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscriber.id'], name=op.f('fk_consent_event_subscriber_id_subscriber')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_event'))
    )
    with op.batch_alter_table('consent_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_event_subscriber_id'), ['subscriber_id'], unique=False)

    op.create_table('subscription',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('list_id', sa.String(length=40), nullable=False),
    sa.Column('subscriber_id', sa.String(length=40), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('consent_event_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', app.db.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.db.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['consent_event_id'], ['consent_event.id'], name=op.f('fk_subscription_consent_event_id_consent_event')),
    sa.ForeignKeyConstraint(['list_id'], ['subscriber_list.id'], name=op.f('fk_subscription_list_id_subscriber_list')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscriber.id'], name=op.f('fk_subscription_subscriber_id_subscriber')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription')),
    sa.UniqueConstraint('list_id', 'subscriber_id', name=op.f('uq_subscription_list_id_subscriber_id'))
    )
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.create_index('ix_subscription_list_state', ['list_id', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscription_subscriber_id'), ['subscriber_id'], unique=False)


    for table in ('consent_event', 'inbound_message'):
        append_only.protect(table)

def downgrade() -> None:
    for table in ('consent_event', 'inbound_message'):
        append_only.unprotect(table)
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscription_subscriber_id'))
        batch_op.drop_index('ix_subscription_list_state')

    op.drop_table('subscription')
    with op.batch_alter_table('consent_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_event_subscriber_id'))

    op.drop_table('consent_event')
    op.drop_table('subscriber_list')
    with op.batch_alter_table('outbound_text', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbound_text_state'))

    op.drop_table('outbound_text')
    op.drop_table('suppression')
    op.drop_table('subscriber')
    op.drop_table('inbound_message')
