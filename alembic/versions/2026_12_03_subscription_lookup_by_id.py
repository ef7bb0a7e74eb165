"""subscription: ix_subscription_list_state ends with subscriber_id

The recipient re-check looks up given subscribers on a campaign's lists (list_id, state and
subscriber_id all known). With (list_id, state) alone, a planner without statistics could pick
this index, walk every subscription of the list and filter by subscriber: with subscriber_id
last, whichever index it picks is an exact probe (issue 20).

Revision ID: 0009_subscription_lookup
Revises: 0008_alerts
Create Date: 2026-12-03 08:30:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0009_subscription_lookup'
down_revision: str | None = '0008_alerts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.drop_index('ix_subscription_list_state')
        batch_op.create_index('ix_subscription_list_state', ['list_id', 'state', 'subscriber_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.drop_index('ix_subscription_list_state')
        batch_op.create_index('ix_subscription_list_state', ['list_id', 'state'], unique=False)
