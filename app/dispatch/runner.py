"""The dispatch loop the worker runs: launch due schedules, claim, send, complete, reconcile.

Each step is a function tests call directly; this module only sequences them. On SQLite one lane
runs inside the API process; on PostgreSQL each worker process runs ``lanes`` concurrent lanes and
any number of processes share the queue through ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from datetime import datetime, timedelta

from sqlalchemy import func, select

from app.campaigns import service as campaigns
from app.campaigns.lifecycle import COMPLETED, SCHEDULED, SENDING
from app.config import Settings
from app.db import Database
from app.db.base import utcnow
from app.dispatch import claim, states
from app.dispatch.send import BatchResult, process_batch
from app.models import Campaign, Message
from app.ops import metrics
from app.providers.base import Provider

log = logging.getLogger(__name__)

#: How far ahead a claim reserves a sender's slots: MPS × horizon messages per claim at most.
HORIZON = 2.0


async def launch_due(db: Database, settings: Settings, *, now: datetime | None = None) -> list[str]:
    """Scheduled campaigns whose time has come start sending."""
    now = now or utcnow()
    started = []
    async with db.unit_of_work() as session:
        due = (await session.scalars(select(Campaign).where(Campaign.status == SCHEDULED, Campaign.scheduled_at <= now)
                                     .with_for_update(skip_locked=True))).all()
        for campaign in due:
            await campaigns.start_sending(session, campaign, list_ids=await campaigns.list_ids_of(session, campaign),
                                          actor=None, settings=settings)
            started.append(campaign.id)
    return started


async def claim_batch(db: Database, settings: Settings, *, now: datetime | None = None) -> list[claim.Claimed]:
    now = now or utcnow()
    lease = timedelta(seconds=settings.lease_seconds)
    claimed: list[claim.Claimed] = []
    async with db.unit_of_work() as session:
        for campaign_id, _sender_id, mps in await claim.sending_campaigns(session):
            room = settings.batch_size - len(claimed)
            if room <= 0:
                break
            # At most what the lanes can have in flight at once: a message that waits for a free
            # connection past its slot is requeued (throttle.LATE), so claiming more only churns.
            in_flight = max(1, settings.max_in_flight // settings.dispatch_lanes)
            limit = max(1, min(room, math.ceil(mps * HORIZON), in_flight))
            claimed += await claim.claim(session, campaign_id, limit=limit, now=now, lease=lease)
    return claimed


async def complete_finished(db: Database, campaign_ids: set[str]) -> list[str]:
    """A sending campaign with nothing left to send (or in doubt) is completed."""
    done = []
    async with db.unit_of_work() as session:
        for campaign_id in sorted(campaign_ids):
            campaign = await session.get(Campaign, campaign_id, with_for_update=True)
            if campaign is None or campaign.status != SENDING:
                continue
            open_count = await session.scalar(select(func.count()).select_from(Message).where(
                Message.campaign_id == campaign_id,
                Message.state.in_((states.QUEUED, states.SENDING, "unknown"))))
            if not open_count:
                campaign.completed_at = utcnow()
                campaigns.move(session, campaign, COMPLETED, actor=None, reason="nothing left to send")
                done.append(campaign_id)
    return done


async def dispatch_once(db: Database, provider: Provider, settings: Settings, *, now: datetime | None = None,
                        semaphore: asyncio.Semaphore | None = None) -> BatchResult:
    """Claim one batch across the sending campaigns, send it, record it, complete what finished."""
    batch = await claim_batch(db, settings, now=now)
    if not batch:
        async with db.session() as session:
            sending = [cid for cid, _, _ in await claim.sending_campaigns(session)]
        result = BatchResult()
        result.campaigns.update(sending)
    else:
        result = await process_batch(db, provider, settings, batch, now=now, semaphore=semaphore)
    await complete_finished(db, result.campaigns)
    result.counts["claimed"] = len(batch)
    return result


async def queue_depth(db: Database) -> int:
    async with db.session() as session:
        depth = int(await session.scalar(select(func.count()).select_from(Message)
                                         .where(Message.state == states.QUEUED)) or 0)
    metrics.QUEUE_DEPTH.set(depth)
    return depth


async def run_lane(db: Database, provider: Provider, settings: Settings, stop: asyncio.Event,
                   semaphore: asyncio.Semaphore) -> None:
    idle = 0.05
    while not stop.is_set():
        try:
            result = await dispatch_once(db, provider, settings, semaphore=semaphore)
        except Exception:
            log.exception("dispatch pass failed; retrying")
            result = None
        if result is None or not result.counts.get("claimed"):
            idle = min(1.0, idle * 2)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=idle)
        else:
            idle = 0.05
