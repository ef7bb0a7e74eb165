"""self sign-up: list keywords and disclosure fields, disclosure versions, the consent record's form proof

Revision ID: 2026_12_03_signup
Revises: 0010_status_callback_pending
Create Date: 2026-12-03 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db import append_only
from app.db.base import UTCDateTime

revision: str = '2026_12_03_signup'
down_revision: str | None = '2026_12_03_segments'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LIST_COLUMNS = (('slug', 64), ('brand', 100), ('purpose', 200), ('frequency', 100), ('terms_url', 500),
                 ('privacy_url', 500))
_CONSENT_COLUMNS = (('user_agent', 500), ('page_url', 1000), ('disclosure_id', 64))


def upgrade() -> None:
    with op.batch_alter_table('subscriber_list', schema=None) as batch_op:
        for name, length in _LIST_COLUMNS:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_subscriber_list_slug'), ['slug'])
    # consent_event is append-only (triggers): plain ADD COLUMN, never a batch copy of the table.
    for name, length in _CONSENT_COLUMNS:
        op.add_column('consent_event', sa.Column(name, sa.String(length=length), nullable=True))
    op.create_table('list_keyword',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('list_id', sa.String(length=40), nullable=False),
    sa.Column('sender_id', sa.String(length=40), nullable=False),
    sa.Column('keyword', sa.String(length=20), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['list_id'], ['subscriber_list.id'], name=op.f('fk_list_keyword_list_id_subscriber_list')),
    sa.ForeignKeyConstraint(['sender_id'], ['sender.id'], name=op.f('fk_list_keyword_sender_id_sender')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_list_keyword')),
    sa.UniqueConstraint('sender_id', 'keyword', name=op.f('uq_list_keyword_sender_id_keyword'))
    )
    with op.batch_alter_table('list_keyword', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_list_keyword_list_id'), ['list_id'], unique=False)
    op.create_table('disclosure',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('list_id', sa.String(length=40), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['list_id'], ['subscriber_list.id'], name=op.f('fk_disclosure_list_id_subscriber_list')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disclosure'))
    )
    op.create_table('signup_limit',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('window_start', UTCDateTime(), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_signup_limit'))
    )
    append_only.protect('disclosure')


def downgrade() -> None:
    append_only.unprotect('disclosure')
    op.drop_table('signup_limit')
    op.drop_table('disclosure')
    with op.batch_alter_table('list_keyword', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_list_keyword_list_id'))
    op.drop_table('list_keyword')
    # Dropping columns of the append-only consent_event: lift the guard around the copy, then restore it.
    append_only.unprotect('consent_event')
    with op.batch_alter_table('consent_event', schema=None) as batch_op:
        for name, _ in reversed(_CONSENT_COLUMNS):
            batch_op.drop_column(name)
    append_only.protect('consent_event')
    with op.batch_alter_table('subscriber_list', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_subscriber_list_slug'), type_='unique')
        for name, _ in reversed(_LIST_COLUMNS):
            batch_op.drop_column(name)
