"""Concurrency claims shown with real, separate connections (and processes' worth of engines):
two workers never claim the same message, and sender slots never overlap across workers."""

from __future__ import annotations

import asyncio

import pytest

from app.config import Settings
from app.db import Database, migrations
from app.db.base import utcnow
from app.dispatch import runner, throttle
from app.models import Campaign, CampaignList, Message, Sender, Subscriber, SubscriberList, User

N = 400


@pytest.fixture
def committed_url(scratch_database_url):
    migrations.upgrade(scratch_database_url)
    return scratch_database_url


async def _seed(url: str) -> str:
    db = Database.from_url(url)
    try:
        async with db.unit_of_work() as session:
            user = User(email="w@example.com", name="W", roles=["marketer"])
            sender = Sender(kind="short_code", address="12345", label="S", mps=10_000, state="verified",
                            verified_at=utcnow(), pool=[])
            session.add_all([user, sender])
            await session.flush()
            lst = SubscriberList(name="L", opt_in="single", sender_id=sender.id)
            session.add(lst)
            await session.flush()
            campaign = Campaign(name="C", author_id=user.id, owner_id=user.id, sender_id=sender.id, body="Hi. STOP to end",
                                status="sending")
            session.add(campaign)
            await session.flush()
            session.add(CampaignList(campaign_id=campaign.id, list_id=lst.id))
            subscribers = [Subscriber(phone=f"+1415555{i:04d}", time_zone="America/Los_Angeles",
                                      time_zones=["America/Los_Angeles"]) for i in range(N)]
            session.add_all(subscribers)
            await session.flush()
            session.add_all([Message(campaign_id=campaign.id, subscriber_id=s.id, to=s.phone, state="queued")
                             for s in subscribers])
            return sender.id
    finally:
        await db.dispose()


async def test_two_workers_never_claim_the_same_message(committed_url):
    await _seed(committed_url)
    settings = Settings(database_url=committed_url, batch_size=50, _env_file=None)
    workers = [Database.from_url(committed_url) for _ in range(2)]
    claimed: list[list[int]] = [[], []]

    async def worker(index: int) -> None:
        while True:
            batch = await runner.claim_batch(workers[index], settings)
            if not batch:
                return
            claimed[index] += [c.id for c in batch]

    try:
        await asyncio.gather(worker(0), worker(1))
    finally:
        for db in workers:
            await db.dispose()
    assert len(claimed[0]) + len(claimed[1]) == N
    assert not set(claimed[0]) & set(claimed[1])
    if committed_url.startswith("postgresql"):
        assert claimed[0] and claimed[1]  # both really worked, side by side


async def test_sender_slots_never_overlap_across_workers(committed_url):
    sender_id = await _seed(committed_url)
    workers = [Database.from_url(committed_url) for _ in range(4)]
    reservations: list[tuple[float, int]] = []

    async def reserve(db: Database, count: int) -> None:
        for _ in range(10):
            async with db.unit_of_work() as session:
                first, offset = await throttle.reserve(session, sender_id, 5, count)
            reservations.append((first, count))

    try:
        await asyncio.gather(*(reserve(db, count) for db, count in zip(workers, (1, 2, 3, 4), strict=True)))
    finally:
        for db in workers:
            await db.dispose()
    step = throttle.interval(5)
    slots = sorted(first + i * step for first, count in reservations for i in range(count))
    assert len(slots) == 100
    gaps = [b - a for a, b in zip(slots, slots[1:], strict=False)]
    assert min(gaps) >= step - 1e-6  # never two sends closer than 1/MPS, whoever reserved them
    # Any one-second window holds at most MPS slots.
    assert max(sum(1 for s in slots if start <= s < start + 1.0) for start in slots) <= 5


def test_lease_is_longer_than_any_send():
    from app.config import Settings
    from app.dispatch.send import LEASE_MARGIN
    from app.providers.twilio_http import DEFAULT_TIMEOUT

    budget = DEFAULT_TIMEOUT.connect + DEFAULT_TIMEOUT.read + DEFAULT_TIMEOUT.write + DEFAULT_TIMEOUT.pool
    assert budget < LEASE_MARGIN  # a send started before the deadline ends before anyone may reconcile it
    shortest = Settings.model_fields["lease_seconds"].metadata[0].ge
    assert shortest > LEASE_MARGIN  # even the shortest allowed lease leaves time to send

def test_late_sends_within_the_allowance_never_exceed_mps():
    import random

    rng = random.Random(7)
    for mps in (1, 3, 20, 100):
        step = throttle.interval(mps)
        sends = sorted(i * step + rng.uniform(0, throttle.LATE) for i in range(mps * 30))
        worst = max(sum(1 for s in sends if start <= s < start + 1.0) for start in sends)
        assert worst <= mps, (mps, worst)
