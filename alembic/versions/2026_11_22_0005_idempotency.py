"""idempotency

Revision ID: 0005_idempotency
Revises: 0004_campaigns
Create Date: 2026-11-22 15:07:20.733033
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base
import app.db.base

revision: str = '0005_idempotency'
down_revision: str | None = '0004_campaigns'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('idempotency_record',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', app.db.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_idempotency_record'))
    )


def downgrade() -> None:
    op.drop_table('idempotency_record')
