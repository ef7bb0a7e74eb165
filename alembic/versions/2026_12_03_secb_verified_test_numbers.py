"""verified test numbers (one-time codes) and reviewed confirmation texts

Revision ID: 20261203_secb_verify
Revises: 2026_12_03_approved_values
Create Date: 2026-12-03 08:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base

revision: str = '20261203_secb_verify'
down_revision: str | None = '2026_12_03_approved_values'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Numbers registered before verification existed stay unverified: they must prove themselves.
    with op.batch_alter_table('test_number', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verified_at', app.db.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('code_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('code_sent_at', app.db.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('code_attempts', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('subscriber_list', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirmation_approved_by_id', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('confirmation_approved_at', app.db.base.UTCDateTime(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_subscriber_list_confirmation_approved_by_id_user'), 'user',
                                    ['confirmation_approved_by_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('subscriber_list', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_subscriber_list_confirmation_approved_by_id_user'), type_='foreignkey')
        batch_op.drop_column('confirmation_approved_at')
        batch_op.drop_column('confirmation_approved_by_id')
    with op.batch_alter_table('test_number', schema=None) as batch_op:
        batch_op.drop_column('code_attempts')
        batch_op.drop_column('code_sent_at')
        batch_op.drop_column('code_hash')
        batch_op.drop_column('verified_at')
