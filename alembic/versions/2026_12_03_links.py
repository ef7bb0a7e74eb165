"""tracked links and their clicks

Revision ID: 2026_12_03_links
Revises: 0010_status_callback_pending
Create Date: 2026-12-03 11:41:06
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base

revision: str = '2026_12_03_links'
down_revision: str | None = '2026_12_03_signup'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('link',
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('campaign_id', sa.String(length=40), nullable=False),
    sa.Column('message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subscriber_id', sa.String(length=40), nullable=False),
    sa.Column('position', sa.SmallInteger(), nullable=False),
    sa.Column('destination', sa.Text(), nullable=False),
    sa.Column('created_at', app.db.base.UTCDateTime(), nullable=False),
    sa.Column('expires_at', app.db.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_link_campaign_id_campaign')),
    sa.ForeignKeyConstraint(['message_id'], ['message.id'], name=op.f('fk_link_message_id_message')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscriber.id'], name=op.f('fk_link_subscriber_id_subscriber')),
    sa.PrimaryKeyConstraint('token', name=op.f('pk_link'))
    )
    with op.batch_alter_table('link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_link_message_id'), ['message_id'], unique=False)

    op.create_table('link_click',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('campaign_id', sa.String(length=40), nullable=False),
    sa.Column('message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subscriber_id', sa.String(length=40), nullable=False),
    sa.Column('position', sa.SmallInteger(), nullable=False),
    sa.Column('clicked_at', app.db.base.UTCDateTime(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('bot_reason', sa.String(length=40), nullable=True),
    sa.Column('user_agent', sa.String(length=512), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_link_click_campaign_id_campaign')),
    sa.ForeignKeyConstraint(['message_id'], ['message.id'], name=op.f('fk_link_click_message_id_message')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscriber.id'], name=op.f('fk_link_click_subscriber_id_subscriber')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_link_click'))
    )
    with op.batch_alter_table('link_click', schema=None) as batch_op:
        batch_op.create_index('ix_link_click_campaign_kind', ['campaign_id', 'kind', 'subscriber_id'], unique=False)
        batch_op.create_index('ix_link_click_subscriber_at', ['subscriber_id', 'clicked_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_link_click_token'), ['token'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('link_click', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_link_click_token'))
        batch_op.drop_index('ix_link_click_subscriber_at')
        batch_op.drop_index('ix_link_click_campaign_kind')

    op.drop_table('link_click')
    with op.batch_alter_table('link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_link_message_id'))

    op.drop_table('link')
