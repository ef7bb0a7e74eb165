"""sender registration: the carriers' verdict and the daily cap it sets

Revision ID: 0009_sender_registration
Revises: 0008_alerts
Create Date: 2026-12-03 08:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009_sender_registration'
down_revision: str | None = '0008_alerts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sender') as batch:
        batch.add_column(sa.Column('registration', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('daily_cap', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sender') as batch:
        batch.drop_column('daily_cap')
        batch.drop_column('registration')
