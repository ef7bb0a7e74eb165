"""campaigns

Revision ID: 0004_campaigns
Revises: 0003_audience
Create Date: 2026-11-22 15:04:25.365277
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base
from app.db import append_only
import app.db.base

revision: str = '0004_campaigns'
down_revision: str | None = '0003_audience'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('test_number',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('user_id', sa.String(length=40), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('created_at', app.db.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_test_number_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_test_number')),
    sa.UniqueConstraint('user_id', 'phone', name=op.f('uq_test_number_user_id_phone'))
    )
    with op.batch_alter_table('test_number', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_test_number_user_id'), ['user_id'], unique=False)

    op.create_table('campaign',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('author_id', sa.String(length=40), nullable=False),
    sa.Column('owner_id', sa.String(length=40), nullable=True),
    sa.Column('sender_id', sa.String(length=40), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('scheduled_at', app.db.base.UTCDateTime(), nullable=True),
    sa.Column('rollout', sa.JSON(), nullable=True),
    sa.Column('spike_policy', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('status_reason', sa.String(length=500), nullable=True),
    sa.Column('approved_hash', sa.String(length=64), nullable=True),
    sa.Column('approved_by_id', sa.String(length=40), nullable=True),
    sa.Column('approved_at', app.db.base.UTCDateTime(), nullable=True),
    sa.Column('oops_warned', sa.Boolean(), nullable=False),
    sa.Column('created_at', app.db.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.db.base.UTCDateTime(), nullable=False),
    sa.Column('launched_at', app.db.base.UTCDateTime(), nullable=True),
    sa.Column('completed_at', app.db.base.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['approved_by_id'], ['user.id'], name=op.f('fk_campaign_approved_by_id_user')),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'], name=op.f('fk_campaign_author_id_user')),
    sa.ForeignKeyConstraint(['owner_id'], ['user.id'], name=op.f('fk_campaign_owner_id_user')),
    sa.ForeignKeyConstraint(['sender_id'], ['sender.id'], name=op.f('fk_campaign_sender_id_sender')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign'))
    )
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_author_id'), ['author_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_sender_id'), ['sender_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_status'), ['status'], unique=False)

    op.create_table('campaign_list',
    sa.Column('campaign_id', sa.String(length=40), nullable=False),
    sa.Column('list_id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_campaign_list_campaign_id_campaign')),
    sa.ForeignKeyConstraint(['list_id'], ['subscriber_list.id'], name=op.f('fk_campaign_list_list_id_subscriber_list')),
    sa.PrimaryKeyConstraint('campaign_id', 'list_id', name=op.f('pk_campaign_list'))
    )
    op.create_table('review',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('campaign_id', sa.String(length=40), nullable=False),
    sa.Column('reviewer_id', sa.String(length=40), nullable=False),
    sa.Column('decision', sa.String(length=20), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('findings', sa.JSON(), nullable=False),
    sa.Column('audience_size', sa.Integer(), nullable=False),
    sa.Column('created_at', app.db.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_review_campaign_id_campaign')),
    sa.ForeignKeyConstraint(['reviewer_id'], ['user.id'], name=op.f('fk_review_reviewer_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review'))
    )
    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_campaign_id'), ['campaign_id'], unique=False)

    op.create_table('test_send',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('campaign_id', sa.String(length=40), nullable=False),
    sa.Column('user_id', sa.String(length=40), nullable=False),
    sa.Column('to', sa.String(length=20), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('provider_sid', sa.String(length=64), nullable=True),
    sa.Column('created_at', app.db.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_test_send_campaign_id_campaign')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_test_send_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_test_send'))
    )
    with op.batch_alter_table('test_send', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_test_send_campaign_id'), ['campaign_id'], unique=False)


    append_only.protect('review')

def downgrade() -> None:
    append_only.unprotect('review')
    with op.batch_alter_table('test_send', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_test_send_campaign_id'))

    op.drop_table('test_send')
    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_campaign_id'))

    op.drop_table('review')
    op.drop_table('campaign_list')
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_status'))
        batch_op.drop_index(batch_op.f('ix_campaign_sender_id'))
        batch_op.drop_index(batch_op.f('ix_campaign_owner_id'))
        batch_op.drop_index(batch_op.f('ix_campaign_author_id'))

    op.drop_table('campaign')
    with op.batch_alter_table('test_number', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_test_number_user_id'))

    op.drop_table('test_number')
