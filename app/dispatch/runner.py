"""The dispatch loop the worker runs: launch due schedules, claim, send, complete, reconcile.

Each step is a function tests call directly; this module only sequences them. Each worker runs one
pump (``run_pump``) that keeps up to ``max_in_flight`` messages at the provider, one batch task per
claim; on SQLite it runs inside the API process, one batch at a time; on PostgreSQL any number of
worker processes share the queue through ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select

from app.campaigns import service as campaigns
from app.config import Settings
from app.db import Database
from app.db.base import utcnow
from app.dispatch import claim
from app.dispatch.send import BatchResult, process_batch
from app.models import Campaign, Message
from app.ops import metrics
from app.providers.base import Provider
from app.vocab.campaign import CampaignState
from app.vocab.message import MessageState

log = logging.getLogger(__name__)

#: How far ahead a worker reserves a sender's slots: it holds at most MPS × HORIZON of its messages.
HORIZON = 2.0
#: How often the pump looks for sending campaigns with nothing left (they complete), in seconds.
COMPLETION_CHECK = 1.0
#: How often the pump's keyset claims start again from the beginning of each campaign's queue, so a
#: row released or deferred behind the cursor waits at most this long once due, in seconds.
SWEEP = 10.0


async def launch_due(db: Database, settings: Settings, *, now: datetime | None = None) -> list[str]:
    """Scheduled campaigns whose time has come start sending."""
    now = now or utcnow()
    started = []
    async with db.unit_of_work() as session:
        due = (await session.scalars(select(Campaign).where(Campaign.state == CampaignState.SCHEDULED, Campaign.scheduled_at <= now)
                                     .with_for_update(skip_locked=True))).all()
        for campaign in due:
            await campaigns.start_sending(session, campaign, list_ids=await campaigns.list_ids_of(session, campaign),
                                          actor=None, settings=settings, now=now)
            started.append(campaign.id)
    return started


async def claim_batch(db: Database, settings: Settings, *, now: datetime | None = None, limit: int | None = None,
                      held: Mapping[str, int] | None = None, cursors: dict[str, int] | None = None
                      ) -> list[claim.Claimed]:
    """Claim up to ``limit`` due messages (default: what may be in flight at once) across the sending
    campaigns. A sender gets at most ``mps × HORIZON`` messages held by this worker, ``held`` being
    what the worker already holds per sender: its slots are never reserved further ahead than that.
    (Claiming more than can be in flight only churns: a message that waits for a free connection past
    its slot is requeued, throttle.LATE.)

    ``cursors`` (campaign -> last id claimed) makes claims keyset claims: each starts after the last.
    When the queue ahead of the cursor runs dry the same call sweeps from the start, for rows
    released or deferred behind it: nothing claimed still means nothing due."""
    now = now or utcnow()
    lease = timedelta(seconds=settings.lease_seconds)
    limit = min(settings.batch_size, settings.max_in_flight if limit is None else limit)
    taken: Counter[str] = Counter(held or {})
    claimed: list[claim.Claimed] = []
    async with db.unit_of_work() as session:
        for campaign_id, sender_id, mps in await claim.sending_campaigns(session):
            if len(claimed) >= limit:
                break
            room = min(limit - len(claimed), math.ceil(mps * HORIZON) - taken[sender_id])
            if room <= 0:
                continue
            after = cursors.get(campaign_id, 0) if cursors is not None else 0
            got = await claim.claim(session, campaign_id, sender_id, limit=room, now=now, lease=lease, after=after)
            last = got[-1].id if got else 0
            if len(got) < room and after:  # the queue ahead ran dry: sweep from the start for rows behind
                behind = await claim.claim(session, campaign_id, sender_id, limit=room - len(got), now=now,
                                           lease=lease)
                last = behind[-1].id if behind else 0
                got = behind + got
            if cursors is not None:
                cursors[campaign_id] = last if len(got) == room else 0
            taken[sender_id] += len(got)
            claimed += got
    return claimed


def _open_messages(campaign_id: str):
    return exists().where(Message.campaign_id == campaign_id,
                          Message.state.in_((MessageState.QUEUED, MessageState.SENDING, MessageState.UNKNOWN)))


async def complete_finished(db: Database, campaign_ids: set[str]) -> list[str]:
    """A sending campaign with nothing left to send (or in doubt) is completed.

    Cheap while a campaign still has work (one indexed EXISTS, no lock); only a campaign that looks
    finished is locked and checked again, so the hot campaign row is not locked after every batch."""
    done = []
    async with db.unit_of_work() as session:
        for campaign_id in sorted(campaign_ids):
            if await session.scalar(select(_open_messages(campaign_id))):
                continue
            campaign = await session.get(Campaign, campaign_id, with_for_update=True)
            if campaign is None or campaign.state != CampaignState.SENDING:
                continue
            if not await session.scalar(select(_open_messages(campaign_id))):
                campaign.completed_at = utcnow()
                campaigns.move(session, campaign, CampaignState.COMPLETED, actor=None, reason="nothing left to send")
                done.append(campaign_id)
    return done


async def dispatch_once(db: Database, provider: Provider, settings: Settings, *, now: datetime | None = None,
                        semaphore: asyncio.Semaphore | None = None) -> BatchResult:
    """Claim one batch across the sending campaigns, send it, record it, complete what finished."""
    batch = await claim_batch(db, settings, now=now)
    if not batch:
        result = BatchResult()
        result.campaigns.update(await _sending_ids(db))
    else:
        result = await process_batch(db, provider, settings, batch, now=now, semaphore=semaphore)
    await complete_finished(db, result.campaigns)
    result.counts["claimed"] = len(batch)
    return result


#: The gauge counts at most this many: beyond it the number says "a lot" as well as the exact count would.
QUEUE_DEPTH_CAP = 100_000
# Claimable rows only (queued, not held by a canary), so the count walks the claim's partial index
# (ix_message_queued) and stops at the cap: bounded work every 5 s, however large the campaigns.
_QUEUE_DEPTH = select(func.count()).select_from(
    select(Message.id).where(Message.state == MessageState.QUEUED, Message.held.is_(False))
    .limit(QUEUE_DEPTH_CAP).subquery())


async def queue_depth(db: Database) -> int:
    async with db.session() as session:
        depth = int(await session.scalar(_QUEUE_DEPTH) or 0)
    metrics.QUEUE_DEPTH.set(depth)
    return depth


class Holdings:
    """The messages a worker holds whose provider call has not finished, in all and per sender.

    ``roomy`` is set while at least ``step`` more may be claimed, ``freed`` whenever one is freed: the
    pump wakes once per claim's worth of answers, not once per answer."""

    def __init__(self, limit: int, step: int) -> None:
        self.limit, self.step = limit, step
        self.total = 0
        self.by_sender: Counter[str] = Counter()
        self.freed = asyncio.Event()
        self.roomy = asyncio.Event()
        self.roomy.set()

    @property
    def room(self) -> int:
        return self.limit - self.total

    def hold(self, batch: list[claim.Claimed]) -> None:
        for claimed in batch:
            self.by_sender[claimed.sender_id] += 1
        self.total += len(batch)
        if self.room < self.step:
            self.roomy.clear()

    def free(self, claimed: claim.Claimed) -> None:
        self.by_sender[claimed.sender_id] -= 1
        self.total -= 1
        self.freed.set()
        if self.room >= self.step:
            self.roomy.set()


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Until ``event`` is set, or ``seconds`` pass."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


async def _send_batch(db: Database, provider: Provider, settings: Settings, batch: list[claim.Claimed],
                      holdings: Holdings, semaphore: asyncio.Semaphore) -> None:
    pending = {claimed.id: claimed for claimed in batch}

    def done(claimed: claim.Claimed) -> None:
        if pending.pop(claimed.id, None) is not None:
            holdings.free(claimed)

    try:
        await process_batch(db, provider, settings, batch, semaphore=semaphore, done=done)
    except Exception:
        # Its rows stay 'sending' under the lease; the reconcile sweep settles them.
        log.exception("dispatch batch failed")
    finally:
        for claimed in list(pending.values()):
            done(claimed)


async def run_pump(db: Database, provider: Provider, settings: Settings, stop: asyncio.Event, *,
                   concurrent: bool = True) -> None:
    """Keep the provider busy: claim a batch whenever at least a quarter of ``max_in_flight`` is free
    and send it as its own task, so claiming, re-checking and recording overlap with the calls in
    flight instead of waiting for a batch's slowest answer. ``concurrent=False`` (SQLite, one
    writer) sends one batch at a time. On stop, batches already claimed are finished and recorded."""
    step = max(1, settings.max_in_flight // 4)
    holdings = Holdings(settings.max_in_flight, step)
    semaphore = asyncio.Semaphore(settings.max_in_flight)
    tasks: set[asyncio.Task] = set()
    cursors: dict[str, int] = {}
    idle, checked, swept = 0.05, 0.0, time.monotonic()
    try:
        while not stop.is_set():
            if time.monotonic() - checked >= COMPLETION_CHECK:
                checked = time.monotonic()
                await _complete_sending(db)
            if time.monotonic() - swept >= SWEEP:
                swept = time.monotonic()
                cursors.clear()
            if tasks and not concurrent:
                await asyncio.wait(tasks, timeout=COMPLETION_CHECK)
                continue
            if tasks and holdings.room < step:
                await _wait(holdings.roomy, COMPLETION_CHECK)
                continue
            try:
                batch = await claim_batch(db, settings, limit=holdings.room, held=holdings.by_sender, cursors=cursors)
            except Exception:
                log.exception("claim failed; retrying")
                batch = []
            if batch:
                idle = 0.05
                holdings.hold(batch)
                task = asyncio.create_task(_send_batch(db, provider, settings, batch, holdings, semaphore))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                continue
            # Nothing due, or every sender at its horizon: wait for an answer, or a while.
            idle = min(COMPLETION_CHECK, idle * 2)
            holdings.freed.clear()
            await _wait(holdings.freed if tasks else stop, idle)
    finally:
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


async def _sending_ids(db: Database) -> set[str]:
    async with db.session() as session:
        return {campaign_id for campaign_id, _, _ in await claim.sending_campaigns(session)}


async def _complete_sending(db: Database) -> None:
    try:
        await complete_finished(db, await _sending_ids(db))
    except Exception:
        log.exception("completion check failed; retrying")
