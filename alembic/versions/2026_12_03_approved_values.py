"""campaign.approved_values: what each placeholder was reviewed as

The values an approval binds (issue 21 item 2): each placeholder's reviewed values, or the plain
rule. NULL for a campaign approved before: its personalised messages are skipped until it is
reviewed again (nothing unreviewed goes out).

Revision ID: 2026_12_03_approved_values
Revises: 2026_12_03_hot_statement_indexes
Create Date: 2026-12-03 08:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '2026_12_03_approved_values'
down_revision: str | None = '2026_12_03_hot_statement_indexes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD/DROP COLUMN (SQLite >= 3.35 has both): a batch copy of the campaign table would trip
    # the foreign keys of the messages, lists and reviews pointing at it.
    op.add_column('campaign', sa.Column('approved_values', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.execute('ALTER TABLE campaign DROP COLUMN approved_values')
