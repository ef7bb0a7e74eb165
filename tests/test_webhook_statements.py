"""The webhook hot path stays a handful of statements (issue 8: a STOP flood at ≥ 1,000 req/s).

Each statement is a round trip to the database and most of a webhook's cost, so the count is pinned
here, on SQLite and on PostgreSQL. The differences: on PostgreSQL the opt-out's four steps are one
statement (``consent._opt_out_in_one_statement``), and so are an attributed STOP's attribution and
its campaign's count (``guard._ATTRIBUTE_AND_COUNT``). Savepoints are the test harness's own and
are not counted.
"""

from __future__ import annotations

import asyncio
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select, text, update

from app.audience import consent
from app.config import Settings
from app.db import Database, migrations
from app.db.base import utcnow
from app.models import (
    Campaign,
    ConsentEvent,
    InboundMessage,
    Message,
    StatusCallback,
    Subscriber,
    SubscriberList,
    Subscription,
    Suppression,
)
from app.webhooks import inbound as inbound_webhook
from tests import test_dispatch
from tests.test_dispatch import _sent_message, status
from tests.twilio_signing import apply_callbacks, inbound

world = test_dispatch.world  # the same fixture: senders, two lists, five subscribers, an approved campaign


@contextmanager
def counted(engine):
    statements: list[str] = []

    def on_execute(_conn, _cursor, statement, _parameters, _context, _executemany):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO")):
            statements.append(" ".join(statement.split())[:120])

    event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", on_execute)


def opt_out_statements(engine) -> int:
    return 1 if engine.dialect.name == "postgresql" else 4


async def test_a_stop_is_a_few_statements_and_its_replay_one(client, world, engine, session):
    phone = "+14155552675"  # the "single" subscriber: subscribed, no message sent yet
    with counted(engine) as statements:
        reply = await inbound(client, "SM" + "7" * 32, phone, "STOP")
    assert reply.status_code == 200 and reply.text.count("<Message>") == 1
    # store the inbound; suppress, mark the subscriber, unsubscribe every list, the ledger event;
    # look for a campaign message to attribute it to. PostgreSQL: all of it one statement
    # (inbound._stop_in_one_statement), so a STOP is BEGIN, that and COMMIT.
    assert len(statements) == (1 if engine.dialect.name == "postgresql" else 1 + opt_out_statements(engine) + 1), \
        "\n".join(statements)
    events = (await session.scalars(select(ConsentEvent.kind).where(ConsentEvent.phone == phone))).all()
    assert events.count("opt_out") == 1
    states = (await session.scalars(select(Subscription.state).where(
        Subscription.subscriber_id == world["subs"]["single"]))).all()
    assert set(states) == {"unsubscribed"}

    with counted(engine) as statements:
        again = await inbound(client, "SM" + "7" * 32, phone, "STOP")
    assert again.status_code == 200 and "<Message>" not in again.text
    assert len(statements) == 1, "\n".join(statements)  # the insert that finds the MessageSid stored


async def test_an_attributed_stop_adds_one_statement_for_its_campaign(client, marketer, world, engine, session):
    message = await _sent_message(client, marketer, world, session)
    await session.execute(update(Message).where(Message.id == message.id).values(sent_at=utcnow()))
    await session.commit()
    with counted(engine) as statements:
        reply = await inbound(client, "SM" + "8" * 32, message.to, "STOP")
    assert reply.status_code == 200
    # and the campaign's count: on PostgreSQL still the STOP's one statement
    assert len(statements) == (1 if engine.dialect.name == "postgresql" else 1 + opt_out_statements(engine) + 2), \
        "\n".join(statements)
    await session.refresh(message)
    assert message.opted_out_at is not None
    campaign = await session.get(Campaign, message.campaign_id, populate_existing=True)
    assert campaign.opt_out_count == 1 and campaign.state == "sending"  # one STOP is no spike


async def test_a_delivered_callback_is_stored_in_two_statements_at_most_and_its_replay_one(client, marketer, world, engine, db,
                                                                         settings, session):
    message = await _sent_message(client, marketer, world, session)
    with counted(engine) as statements:
        assert (await status(client, message.provider_sid, "delivered")).status_code == 204
    # store the callback (finding its message), queue it for the applier; committed before the 204.
    # PostgreSQL does both in one statement (the queued rows from the INSERT's RETURNING).
    assert len(statements) == (1 if db.dialect == "postgresql" else 2), "\n".join(statements)
    with counted(engine) as statements:
        assert (await status(client, message.provider_sid, "delivered")).status_code == 204
    assert len(statements) == 1, "\n".join(statements)  # the insert that finds it stored; nothing queued
    stored = (await session.scalars(select(StatusCallback.known).where(
        StatusCallback.message_sid == message.provider_sid))).all()
    assert stored == [True]


async def test_the_applier_takes_a_batch_in_four_statements(client, marketer, world, engine, db, settings, session):
    """Take the batch off the queue, read it, move the messages (one UPDATE per target state), count
    them on their campaign (one UPDATE per campaign): the same four for one callback or a thousand."""
    message = await _sent_message(client, marketer, world, session)
    for value in ("sent", "delivered"):
        assert (await status(client, message.provider_sid, value)).status_code == 204
    with counted(engine) as statements:
        assert await apply_callbacks(db, settings) == 2
    applying = [s for s in statements if not s.upper().startswith(("BEGIN", "COMMIT"))]
    # the two above, then the empty claim that says nothing is left
    assert len(applying) == 4 + 1, "\n".join(applying)
    await session.refresh(message)
    assert message.state == "delivered"
    campaign = await session.get(Campaign, message.campaign_id, populate_existing=True)
    assert campaign.delivered_count == 1


@pytest.fixture
def committed_url(scratch_database_url):
    migrations.upgrade(scratch_database_url)
    return scratch_database_url


async def _one_subscriber(db: Database, phone: str) -> None:
    async with db.unit_of_work() as session:
        lst = SubscriberList(name="L", opt_in="single")
        subscriber = Subscriber(phone=phone, time_zone="America/Los_Angeles", time_zones=[])
        session.add_all([lst, subscriber])
        await session.flush()
        session.add(Subscription(list_id=lst.id, subscriber_id=subscriber.id, state="subscribed"))


def _stop_params(sid: str, phone: str) -> dict[str, str]:
    return {"MessageSid": sid, "SmsSid": sid, "From": phone, "To": "+15005550006", "Body": "STOP"}


@pytest.mark.parametrize("path", ["consent.opt_out", "the inbound webhook's STOP"])
async def test_simultaneous_stops_from_one_number_record_one_opt_out(committed_url, path):
    """Twilio retries, or a person sends STOP twice: on separate connections at the same moment,
    exactly one of them is the opt-out (one ledger event), and the number ends up suppressed — by
    the opt-out itself, and by the webhook's handling (on PostgreSQL its one statement)."""
    db = Database.from_url(committed_url)
    settings = Settings(database_url=committed_url, provider="sandbox", worker="off", _env_file=None)
    phone = "+14155550123"
    try:
        await _one_subscriber(db, phone)

        async def stop(index: int) -> bool:
            async with db.unit_of_work() as session:
                if path == "consent.opt_out":
                    return await consent.opt_out(session, phone, channel="keyword", reason=f"STOP #{index}")
                result = await inbound_webhook.handle(session, _stop_params(f"SM{index:032d}", phone), settings)
                return result.kind.value == "opt_out" and not result.duplicate

        results = await asyncio.gather(*(stop(i) for i in range(6)))
        if path == "consent.opt_out":
            assert sorted(results) == [False] * 5 + [True]
        else:  # every STOP is stored and answered; one of them opted the number out
            assert results == [True] * 6
        async with db.session() as session:
            events = (await session.scalars(select(ConsentEvent.kind).where(ConsentEvent.phone == phone))).all()
            assert events == ["opt_out"]
            assert await consent.active_suppression(session, phone) is not None
            states = (await session.scalars(select(Subscription.state))).all()
            assert states == ["unsubscribed"]
            if path != "consent.opt_out":
                assert await session.scalar(select(func.count()).select_from(InboundMessage)) == 6
    finally:
        await db.dispose()


async def test_a_stop_waiting_behind_a_start_unsubscribes_the_lists_it_restored(committed_url):
    """START (opt back in) holds the number's suppression row while a STOP from the same number
    arrives. On PostgreSQL the STOP is one statement: it started before START committed, waits for
    the suppression row, and must then unsubscribe the lists START restored — which its own snapshot
    still shows unsubscribed (a filter on that state skipped them: suppressed, lists subscribed)."""
    db, observer = Database.from_url(committed_url), Database.from_url(committed_url)
    if db.dialect == "sqlite":
        await db.dispose()
        await observer.dispose()
        pytest.skip("SQLite has one writer: a STOP cannot start while a START holds its rows")
    settings = Settings(database_url=committed_url, provider="sandbox", worker="off", _env_file=None)
    phone = "+14155550124"
    try:
        await _one_subscriber(db, phone)
        async with db.unit_of_work() as session:
            await inbound_webhook.handle(session, _stop_params("SM" + "1" * 32, phone), settings)
        async with db.unit_of_work() as start:  # START, not yet committed
            await consent.opt_back_in(start, phone, channel="keyword", evidence="replied 'START'")
            assert set((await start.scalars(select(Subscription.state))).all()) == {"subscribed"}

            async def second_stop():
                async with db.unit_of_work() as session:
                    return await inbound_webhook.handle(session, _stop_params("SM" + "2" * 32, phone), settings)

            stopping = asyncio.create_task(second_stop())
            for _ in range(200):  # until the STOP waits for START's row lock
                async with observer.session() as session:
                    if await session.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                                                 "'Lock' AND datname = current_database()")):
                        break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("the STOP never waited for START's lock")
        result = await stopping  # START committed; the STOP goes on
        assert not result.duplicate
        async with observer.session() as session:
            assert await consent.active_suppression(session, phone) is not None
            assert (await session.scalar(select(Subscriber.opted_out_at).where(Subscriber.phone == phone))) is not None
            assert set((await session.scalars(select(Subscription.state))).all()) == {"unsubscribed"}
            kinds = (await session.scalars(select(ConsentEvent.kind).where(ConsentEvent.phone == phone)
                                           .order_by(ConsentEvent.recorded_at))).all()
            assert kinds[0] == "opt_out" and kinds[-1] == "opt_out" and "opt_back_in" in kinds
    finally:
        await db.dispose()
        await observer.dispose()


async def test_a_replayed_stop_after_start_changes_nothing(client, world, session):
    """Twilio may deliver a STOP again after the customer texted START: the replay finds its
    MessageSid stored and must not opt them out again (on PostgreSQL every step of the opt-out is
    gated on the inbound row being new, inside the one statement)."""
    phone = "+14155552675"  # the "single" subscriber
    assert "<Message>" in (await inbound(client, "SM" + "a" * 32, phone, "STOP")).text
    assert "<Message>" in (await inbound(client, "SM" + "b" * 32, phone, "START")).text
    replay = await inbound(client, "SM" + "a" * 32, phone, "STOP")
    assert replay.status_code == 200 and "<Message>" not in replay.text
    session.expire_all()
    states = (await session.scalars(select(Subscription.state).where(
        Subscription.subscriber_id == world["subs"]["single"]))).all()
    assert set(states) == {"subscribed"}
    events = (await session.scalars(select(ConsentEvent.kind).where(ConsentEvent.phone == phone)
                                    .order_by(ConsentEvent.recorded_at))).all()
    assert events.count("opt_out") == 1 and "opt_back_in" in events
    suppression = await session.get(Suppression, phone, populate_existing=True)
    assert suppression is not None and suppression.lifted_at is not None  # still lifted
