"""senders

Revision ID: 0002_senders
Revises: 0001_employees
Create Date: 2026-11-22 14:57:05.422712
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base
revision: str = '0002_senders'
down_revision: str | None = '0001_employees'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sender',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('mps', sa.Integer(), nullable=False),
    sa.Column('mps_overridden', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('state_reason', sa.String(length=500), nullable=True),
    sa.Column('pool', sa.JSON(), nullable=False),
    sa.Column('provider_sid', sa.String(length=64), nullable=True),
    sa.Column('registered_by_id', sa.String(length=40), nullable=True),
    sa.Column('confirmed_by_id', sa.String(length=40), nullable=True),
    sa.Column('assigned_to_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', app.db.base.UTCDateTime(), nullable=False),
    sa.Column('verified_at', app.db.base.UTCDateTime(), nullable=True),
    sa.Column('last_checked_at', app.db.base.UTCDateTime(), nullable=True),
    sa.Column('suspended_at', app.db.base.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', app.db.base.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['assigned_to_id'], ['user.id'], name=op.f('fk_sender_assigned_to_id_user')),
    sa.ForeignKeyConstraint(['confirmed_by_id'], ['user.id'], name=op.f('fk_sender_confirmed_by_id_user')),
    sa.ForeignKeyConstraint(['registered_by_id'], ['user.id'], name=op.f('fk_sender_registered_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sender')),
    sa.UniqueConstraint('address', name=op.f('uq_sender_address'))
    )
    with op.batch_alter_table('sender', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sender_assigned_to_id'), ['assigned_to_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sender_state'), ['state'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sender', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sender_state'))
        batch_op.drop_index(batch_op.f('ix_sender_assigned_to_id'))

    op.drop_table('sender')
