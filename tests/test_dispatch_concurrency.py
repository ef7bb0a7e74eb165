"""Concurrency claims shown with real, separate connections (and processes' worth of engines):
two workers never claim the same message, and sender slots never overlap across workers."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import func, select, update

from app.config import Settings
from app.db import Database, migrations
from app.db.base import utcnow
from app.dispatch import runner, throttle
from app.models import Campaign, CampaignList, Message, Sender, Subscriber, SubscriberList, Subscription, User
from app.providers.base import Provider
from app.providers.sandbox import SandboxProvider

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
                                state="sending")
            session.add(campaign)
            await session.flush()
            session.add(CampaignList(campaign_id=campaign.id, list_id=lst.id))
            subscribers = [Subscriber(phone=f"+1415555{i:04d}", time_zone="America/Los_Angeles",
                                      time_zones=["America/Los_Angeles"]) for i in range(N)]
            session.add_all(subscribers)
            await session.flush()
            session.add_all([Subscription(list_id=lst.id, subscriber_id=s.id, state="subscribed") for s in subscribers])
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


class _SlowProvider(SandboxProvider):
    """The sandbox with a provider latency, recording how many calls were in flight at once and when
    each number was sent to."""

    def __init__(self, latency: float) -> None:
        super().__init__(["12345"], account_sid="AC" + "0" * 32, auth_token="t", callbacks=False)
        self.latency, self.in_flight, self.peak = latency, 0, 0
        self.sent_at: dict[str, list[float]] = {}

    async def _create_message(self, sender, *, to, body, status_callback):
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.latency)
            self.sent_at.setdefault(to, []).append(time.time())
            return await super()._create_message(sender, to=to, body=body, status_callback=status_callback)
        finally:
            self.in_flight -= 1


async def _pump_until_done(url: str, settings: Settings, provider: Provider, campaign_ids: list[str],
                           seconds: float = 60.0) -> Database:
    db = Database.from_url(url)
    stop = asyncio.Event()
    pump = asyncio.create_task(runner.run_pump(db, provider, settings, stop, concurrent=db.dialect == "postgresql"))
    try:
        async with asyncio.timeout(seconds):
            while True:
                await asyncio.sleep(0.1)
                async with db.session() as session:
                    open_ = await session.scalar(select(func.count()).select_from(Campaign).where(
                        Campaign.id.in_(campaign_ids), Campaign.state != "completed"))
                if not open_:
                    break
    finally:
        stop.set()
        await pump
    return db


async def test_the_pump_keeps_in_flight_full_but_bounded_and_sends_each_message_once(committed_url):
    await _seed(committed_url)
    settings = Settings(database_url=committed_url, max_in_flight=40, quiet_hours="off", _env_file=None)
    provider = _SlowProvider(latency=0.05)
    db = await _pump_until_done(committed_url, settings, provider, [await _campaign_id(committed_url)])
    try:
        async with db.session() as session:
            states = (await session.execute(select(Message.state, func.count()).group_by(Message.state))).all()
    finally:
        await db.dispose()
    assert dict(states) == {"sent": N}  # and the campaign completed: the pump's own completion check
    assert sorted(provider.sent_at) == sorted(f"+1415555{i:04d}" for i in range(N))
    assert all(len(times) == 1 for times in provider.sent_at.values())
    assert provider.peak <= settings.max_in_flight
    if committed_url.startswith("postgresql"):
        # Batches overlap: more than one claim's worth (a quarter of max_in_flight) at the provider.
        assert provider.peak > settings.max_in_flight // 4


async def test_the_pump_holds_a_slow_senders_messages_no_longer_than_its_horizon(committed_url):
    sender_id = await _seed(committed_url)
    db = Database.from_url(committed_url)
    try:
        async with db.unit_of_work() as session:
            await session.execute(update(Sender).where(Sender.id == sender_id).values(mps=10))
            # Only 40 of the messages: four seconds at 10 MPS (slots 1.15/MPS apart).
            await session.execute(update(Message).where(Message.to >= "+14155550040").values(state="skipped"))
    finally:
        await db.dispose()
    settings = Settings(database_url=committed_url, max_in_flight=64, quiet_hours="off", _env_file=None)
    provider = _SlowProvider(latency=0.01)
    db = await _pump_until_done(committed_url, settings, provider, [await _campaign_id(committed_url)])
    try:
        async with db.session() as session:
            claimed = dict((await session.execute(select(Message.to, Message.claimed_at)
                                                  .where(Message.state == "sent"))).all())
    finally:
        await db.dispose()
    assert len(claimed) == 40 and all(len(times) == 1 for times in provider.sent_at.values())
    sends = sorted(times[0] for times in provider.sent_at.values())
    assert max(sum(1 for s in sends if start <= s < start + 1.0) for start in sends) <= 10
    # Never claimed far ahead of its slot: what a worker holds of a sender is MPS × HORIZON at most,
    # so no message waits under its lease much longer than the horizon.
    held = [provider.sent_at[to][0] - at.timestamp() for to, at in claimed.items()]
    assert max(held) < runner.HORIZON + 1.0, max(held)


async def _campaign_id(url: str) -> str:
    db = Database.from_url(url)
    try:
        async with db.session() as session:
            return await session.scalar(select(Campaign.id))
    finally:
        await db.dispose()


async def test_keyset_claims_move_forward_and_sweep_back_for_a_released_row(committed_url):
    await _seed(committed_url)
    settings = Settings(database_url=committed_url, _env_file=None)
    db = Database.from_url(committed_url)
    cursors: dict[str, int] = {}
    try:
        first = await runner.claim_batch(db, settings, limit=50, cursors=cursors)
        async with db.unit_of_work() as session:  # one goes back to the queue, as a late send is released
            await session.execute(update(Message).where(Message.id == first[0].id)
                                  .values(state="queued", claimed_at=None, lease_expires_at=None))
        second = await runner.claim_batch(db, settings, limit=50, cursors=cursors)
        assert min(c.id for c in second) > max(c.id for c in first)  # forward from the cursor
        claimed = [c.id for c in first[1:] + second]
        for _ in range(20):
            batch = await runner.claim_batch(db, settings, limit=50, cursors=cursors)
            if not batch:
                break
            claimed += [c.id for c in batch]
        async with db.session() as session:
            every = set((await session.scalars(select(Message.id))).all())
    finally:
        await db.dispose()
    assert first[0].id in claimed  # the sweep after the queue ahead ran dry went back for it
    assert len(claimed) == len(set(claimed)) == N and set(claimed) == every


async def test_a_daily_cap_holds_across_workers(committed_url):
    """Four workers on their own connections take from one sender's daily cap at once, ten times each:
    together they never get more than the cap, and the whole cap is handed out."""
    sender_id = await _seed(committed_url)
    workers = [Database.from_url(committed_url) for _ in range(4)]
    now = utcnow()
    taken: list[int] = []

    async def take(db: Database, count: int) -> None:
        for _ in range(10):
            async with db.unit_of_work() as session:
                taken.append(await throttle.take_daily(session, sender_id, 50, count, now))

    try:
        await asyncio.gather(*(take(db, count) for db, count in zip(workers, (1, 2, 3, 4), strict=True)))
    finally:
        for db in workers:
            await db.dispose()
    assert sum(taken) == 50  # asked for 100 in all
    assert taken.count(0) > 0  # the late askers got nothing: the rest waits for the next carrier day
