"""campaign.status → campaign.state, status_reason → state_reason (one word for every lifecycle)

Revision ID: 2026_12_03_campaign_state
Revises: 0008_alerts
Create Date: 2026-12-03 08:05:00

A rename, in place on PostgreSQL and SQLite (≥ 3.25) alike: the rows and their values are kept.
"""
from collections.abc import Sequence

from alembic import op

revision: str = '2026_12_03_campaign_state'
down_revision: str | None = '0008_alerts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rename(old: str, new: str) -> None:
    op.drop_index(f'ix_campaign_{old}', table_name='campaign')
    op.execute(f'ALTER TABLE campaign RENAME COLUMN {old} TO {new}')
    op.execute(f'ALTER TABLE campaign RENAME COLUMN {old}_reason TO {new}_reason')
    op.create_index(f'ix_campaign_{new}', 'campaign', [new], unique=False)


def upgrade() -> None:
    _rename('status', 'state')


def downgrade() -> None:
    _rename('state', 'status')
