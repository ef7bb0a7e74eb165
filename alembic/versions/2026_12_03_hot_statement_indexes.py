"""hot statements' indexes: exact probes whatever the planner knows (issue 20)

- ix_subscription_list_state ends with subscriber_id. The recipient re-check looks up given
  subscribers on a campaign's lists (list_id, state and subscriber_id all known). With
  (list_id, state) alone, a planner without statistics could pick this index, walk every
  subscription of the list and filter by subscriber: with subscriber_id last, whichever index it
  picks is an exact probe.
- ix_message_queued is (campaign_id, id) over the queued rows. The claim asks for one campaign's
  queued rows after a cursor, by id, LIMIT n: this index serves it in order and stops after n.
  Over (id) alone, a planner without statistics preferred ix_message_campaign_state and sorted the
  campaign's whole queue for every claim.

Revision ID: 2026_12_03_hot_statement_indexes
Revises: 0009_sender_registration
Create Date: 2026-12-03 08:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '2026_12_03_hot_statement_indexes'
down_revision: str | None = '0009_sender_registration'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUED = "state = 'queued' AND NOT held"


def upgrade() -> None:
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.drop_index('ix_subscription_list_state')
        batch_op.create_index('ix_subscription_list_state', ['list_id', 'state', 'subscriber_id'], unique=False)
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('ix_message_queued')
        batch_op.create_index('ix_message_queued', ['campaign_id', 'id'], unique=False,
                              postgresql_where=sa.text(QUEUED), sqlite_where=sa.text(QUEUED))


def downgrade() -> None:
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('ix_message_queued')
        batch_op.create_index('ix_message_queued', ['id'], unique=False,
                              postgresql_where=sa.text(QUEUED), sqlite_where=sa.text(QUEUED))
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.drop_index('ix_subscription_list_state')
        batch_op.create_index('ix_subscription_list_state', ['list_id', 'state'], unique=False)
