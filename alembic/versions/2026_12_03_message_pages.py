"""a campaign's messages in id order: ix_message_campaign_id (campaign_id, id), for the messages pages

Revision ID: 2026_12_03_message_pages
Revises: 2026_12_03_outbound_slots
Create Date: 2026-12-03 21:50:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '2026_12_03_message_pages'
down_revision: str | None = '2026_12_03_outbound_slots'  # main's head when this was written
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_message_campaign_id', 'message', ['campaign_id', 'id'])


def downgrade() -> None:
    op.drop_index('ix_message_campaign_id', table_name='message')
