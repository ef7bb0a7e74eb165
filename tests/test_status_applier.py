"""The status-callback applier: every stored callback applied exactly once, in any order, replayed or
not, by any number of appliers at once (DESIGN.md invariant 8; issue 15)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, text, update

from app.config import Settings
from app.db import Database
from app.models import Campaign, Message, StatusCallbackPending
from app.webhooks import status
from tests import crash_support as cs
from tests.test_dispatch import _sent_message, world  # noqa: F401 - the fixture
from tests.test_dispatch import status as post_status
from tests.twilio_signing import apply_callbacks


async def test_callbacks_out_of_order_and_replayed_are_applied_once(client, marketer, world, db, settings,  # noqa: F811
                                                                    session):
    message = await _sent_message(client, marketer, world, session)
    sid = message.provider_sid
    # delivered before sent, a replay of delivered, then a contradicting late final: one batch
    for value in ("delivered", "sent", "delivered", "undelivered"):
        assert (await post_status(client, sid, value)).status_code == 204
    assert await apply_callbacks(db, settings) == 3  # the replay was never stored
    for value in ("sent", "delivered", "undelivered"):  # Twilio retries them all: nothing new
        assert (await post_status(client, sid, value)).status_code == 204
    assert await apply_callbacks(db, settings) == 0
    await session.refresh(message)
    assert message.state == "delivered" and message.error_code is None
    campaign = await session.get(Campaign, message.campaign_id, populate_existing=True)
    assert (campaign.delivered_count, campaign.failed_count) == (1, 0)


async def test_three_appliers_at_once_apply_each_callback_once(scratch_database_url):
    """Real connections, one transaction each, small batches racing over the same queue."""
    n = 60
    seeded = await cs.seed_world(scratch_database_url, n, mps=60)
    campaign_id = seeded["campaign"]["id"]
    settings = Settings(database_url=scratch_database_url, provider="sandbox", worker="off", _env_file=None)
    db = Database.from_url(scratch_database_url)
    try:
        async with db.unit_of_work() as session:
            await session.execute(update(Message).where(Message.campaign_id == campaign_id).values(
                state="sent", provider_sid=func.printf("SM%032d", Message.id)
                if db.dialect == "sqlite" else text("'SM' || lpad(message.id::text, 32, '0')")))
            sids = (await session.scalars(select(Message.provider_sid))).all()
        rows = [status.parse({"MessageSid": sid, "MessageStatus": value}, None)
                for value in ("sent", "delivered") for sid in sids]
        async with db.unit_of_work() as session:
            assert await status.store(session, rows) == 2 * n

        async def applier() -> int:
            total = 0
            while True:
                try:
                    async with db.unit_of_work() as session:
                        applied = await status.apply_pending(session, settings=settings, limit=7)
                except Exception as exc:  # SQLite's one writer: busy; PostgreSQL: a deadlock victim
                    if "locked" not in str(exc) and "deadlock" not in str(exc):
                        raise
                    await asyncio.sleep(0.01)
                    continue
                if not applied:
                    return total
                total += applied

        done = await asyncio.gather(applier(), applier(), applier())
        assert sum(done) == 2 * n
        async with db.session() as session:
            assert await session.scalar(select(func.count()).select_from(StatusCallbackPending)) == 0
            states = (await session.scalars(select(Message.state).where(Message.campaign_id == campaign_id))).all()
            assert set(states) == {"delivered"} and len(states) == n
            campaign = await session.get(Campaign, campaign_id)
            assert campaign.delivered_count == n
    finally:
        await db.dispose()


async def test_a_send_recorded_while_the_applier_runs_still_gets_its_callbacks(scratch_database_url, monkeypatch):
    """A 'delivered' callback (it carries ?m=<id>) stored before the worker recorded the send: the
    applier reads the message without a SID, and the worker's record commits before the applier tries
    to attach the SID itself. The callback is applied all the same, never consumed for nothing."""
    if scratch_database_url.startswith("sqlite"):
        pytest.skip("SQLite has one writer: no worker can commit inside the applier's transaction there")
    seeded = await cs.seed_world(scratch_database_url, 1, mps=60)
    settings = Settings(database_url=scratch_database_url, provider="sandbox", worker="off", _env_file=None)
    db, worker = Database.from_url(scratch_database_url), Database.from_url(scratch_database_url)
    sid = "SM" + "4" * 32
    try:
        async with db.unit_of_work() as session:
            message = await session.scalar(select(Message).where(Message.campaign_id == seeded["campaign"]["id"]))
            message.state = "sending"  # claimed and handed to the provider; its answer not recorded yet
            message_id = message.id
        async with db.unit_of_work() as session:
            await status.store(session, [status.parse({"MessageSid": sid, "MessageStatus": value}, str(message_id))
                                         for value in ("sent", "delivered")])
        attach = status.attach_sid

        async def worker_records_first(session, message_pk, sid_):
            async with worker.unit_of_work() as other:  # the worker's own transaction, on its own connection
                await other.execute(update(Message).where(Message.id == message_pk, Message.state == "sending")
                                    .values(state="sent", provider_sid=sid))
            return await attach(session, message_pk, sid_)

        monkeypatch.setattr(status, "attach_sid", worker_records_first)
        assert await apply_callbacks(db, settings) == 2
        async with db.session() as session:
            assert await session.scalar(select(Message.state).where(Message.id == message_id)) == "delivered"
            campaign = await session.get(Campaign, seeded["campaign"]["id"])
            assert campaign.delivered_count == 1
    finally:
        await db.dispose()
        await worker.dispose()
