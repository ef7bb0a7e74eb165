"""Claiming due messages under a lease, and releasing them.

A claim moves rows from ``queued`` to ``sending`` and stamps ``claimed_at`` (the lease's fencing
token) and ``lease_expires_at``. On PostgreSQL the SELECT takes ``FOR UPDATE SKIP LOCKED``, so any
number of workers claim disjoint rows; the partial index on queued ids keeps the claim fast however
many rows were already processed. Completion updates only rows still carrying the same
``claimed_at``, so a worker whose lease was taken over cannot overwrite anything.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, literal, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Campaign, Message, Sender
from app.vocab.campaign import CampaignState
from app.vocab.message import MessageState


@dataclass(frozen=True)
class Claimed:
    id: int
    campaign_id: str
    sender_id: str
    subscriber_id: str
    to: str
    attempts: int
    claimed_at: datetime


async def sending_campaigns(session: AsyncSession) -> list[tuple[str, str, int]]:
    """(campaign id, sender id, sender MPS) of every campaign now sending."""
    rows = await session.execute(
        select(Campaign.id, Campaign.sender_id, Sender.mps).join(Sender, Sender.id == Campaign.sender_id)
        .where(Campaign.state == CampaignState.SENDING).order_by(Campaign.id)
    )
    return [(cid, sid, mps) for cid, sid, mps in rows]


@functools.cache
def _claim_statement(dialect: str):
    """Built once per dialect (a worker claims many times a second): only the parameters change."""
    message = Message.__table__  # Core, not ORM: nothing in the session to synchronise
    moment = message.c.claimed_at.type
    now = bindparam("b_now", type_=moment)
    # The partial index ix_message_queued (campaign_id, id) WHERE state = 'queued' AND NOT held serves
    # this pick in order and stops after b_limit rows, but only if the planner can prove its WHERE:
    # the state is written in the text (not a parameter, unknown to a prepared statement's generic
    # plan) and ``NOT held`` as the index says it (``held IS false`` proves nothing). Without the
    # index the pick read and sorted the campaign's whole queue per claim (tests/test_hot_plans.py).
    due = (
        select(message.c.id)
        .where(message.c.state == literal(MessageState.QUEUED.value, literal_execute=True),
               message.c.campaign_id == bindparam("b_campaign"),
               not_(message.c.held), or_(message.c.not_before.is_(None), message.c.not_before <= now),
               message.c.id > bindparam("b_after"))
        .order_by(message.c.id)
        .limit(bindparam("b_limit"))
    )
    if dialect == "postgresql":
        due = due.with_for_update(skip_locked=True)
    picked = due.cte("due").prefix_with("MATERIALIZED")
    return (
        update(message)
        .where(message.c.id.in_(select(picked.c.id)), message.c.state == MessageState.QUEUED)
        .values(state=MessageState.SENDING, claimed_at=now, lease_expires_at=bindparam("b_expires", type_=moment),
                updated_at=now)
        .returning(message.c.id, message.c.campaign_id, message.c.subscriber_id, message.c.to, message.c.attempts)
    )


async def claim(session: AsyncSession, campaign_id: str, sender_id: str, *, limit: int, now: datetime,
                lease: timedelta, after: int = 0) -> list[Claimed]:
    """One statement: pick the oldest due rows with an id above ``after`` (skipping rows another worker
    has locked) and move them to ``sending`` under our lease, returning what the send needs.

    ``after`` is the worker's keyset cursor: the claim starts where its last one ended instead of
    walking, from the start of the index, past every row claimed since the table was last vacuumed
    (with autovacuum behind, that walk grows with every row claimed: docs/benchmarks.md).

    The pick is a MATERIALIZED CTE: evaluated exactly once. Written as ``WHERE id IN (SELECT … LIMIT n
    FOR UPDATE SKIP LOCKED)`` PostgreSQL may run the subquery more than once and claim more than n
    (seen: 40 claimed for a limit of 20; tests/test_dispatch_concurrency.py)."""
    statement = _claim_statement(session.get_bind().dialect.name)
    rows = await session.execute(statement, {"b_campaign": campaign_id, "b_limit": limit, "b_now": now,
                                             "b_expires": now + lease, "b_after": after})
    return sorted((Claimed(i, c, sender_id, s, t, a, now) for i, c, s, t, a in rows), key=lambda c: c.id)


def fenced(message_id: int, claimed_at: datetime):
    """The WHERE clause that makes a completion apply only to our own, still-held claim."""
    return and_(Message.id == message_id, Message.claimed_at == claimed_at)
