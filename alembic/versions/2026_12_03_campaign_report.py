"""the campaign report: which messages a canary held back, and the segments each sent message was billed as

Revision ID: 2026_12_03_campaign_report
Revises: 2026_12_03_links
Create Date: 2026-12-03 11:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '2026_12_03_campaign_report'
down_revision: str | None = '2026_12_03_links'  # main's head when this was written
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('message') as batch_op:
        batch_op.add_column(sa.Column('canary_rest', sa.Boolean(), server_default=sa.text('false'), nullable=False))
        batch_op.add_column(sa.Column('segments', sa.SmallInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('message') as batch_op:
        batch_op.drop_column('segments')
        batch_op.drop_column('canary_rest')
