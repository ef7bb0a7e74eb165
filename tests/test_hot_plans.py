"""Hot statements must not depend on table statistics (issue 20; docs/performance.md).

Right after an import nothing has analysed ``subscriber`` or ``subscription`` (autovacuum comes
later, or never: it is off on this project's machine), and the planner guesses. Each statement the
worker or a webhook runs thousands of times is run here, as the code sends it, against tables of
``N`` rows that were never analysed, and must touch O(its own rows), not O(the table): on
PostgreSQL the rows its scans read and the buffers it touches, from ``EXPLAIN (ANALYZE, BUFFERS,
FORMAT JSON)``, with a custom plan (the first executions) and with the generic plan a prepared
statement settles on; on SQLite, whose EXPLAIN reports no counts, the plan must start from the
batch's keys and scan no table.

The world is seeded set-based (INSERT … SELECT over a counter), in a few seconds.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, event, select, text

from app.alerts import guard
from app.audience import consent
from app.company.policy import FrequencyCap
from app.config import Settings
from app.db import Database, migrations
from app.db.base import UTCDateTime
from app.dispatch import claim, frequency, runner, send, throttle
from app.dispatch.claim import Claimed
from app.links import service as links
from app.models import Campaign, CampaignList, Sender, SubscriberList, User
from app.vocab.campaign import CampaignState
from app.webhooks import status
from tests import databases

N = 50_000  # subscribers on the campaign's list, and messages in its queue
SENT = 30_000  # the first SENT messages went out an hour ago; the rest are queued
BATCH = 500
#: A statement reads at most this many rows, and touches at most this many buffers, per row it is
#: about (a probe of a primary key and of one index or two). A walk of the list or the queue reads N.
ROWS_PER_ROW = 6
BUFFERS_PER_ROW = 40
NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)

# Portable set-based seeding: a recursive counter (PostgreSQL and SQLite alike).
_COUNTER = "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < :n) "
_SUB = "'sub_' || CAST(1000000 + i AS VARCHAR(20))"
_PHONE = "'+1415' || CAST(1000000 + i AS VARCHAR(20))"
_SEED = [
    # every 50th person opted out: marked, unsubscribed everywhere, on the suppression list
    _COUNTER + "INSERT INTO subscriber (id, phone, first_name, attributes, time_zone, time_zones, created_at, "
    f"opted_out_at) SELECT {_SUB}, {_PHONE}, 'Ana', '{{}}', 'America/Los_Angeles', '[\"America/Los_Angeles\"]', "
    ":now, CASE WHEN i % 50 = 0 THEN :now END FROM g",
    _COUNTER + "INSERT INTO subscription (id, list_id, subscriber_id, state, created_at, updated_at) "
    f"SELECT 'sbn_a' || CAST(1000000 + i AS VARCHAR(20)), :list_a, {_SUB}, "
    "CASE WHEN i % 50 = 0 THEN 'unsubscribed' ELSE 'subscribed' END, :now, :now FROM g",
    # every 10th is also on a second list
    _COUNTER + "INSERT INTO subscription (id, list_id, subscriber_id, state, created_at, updated_at) "
    f"SELECT 'sbn_b' || CAST(1000000 + i AS VARCHAR(20)), :list_b, {_SUB}, 'subscribed', :now, :now "
    "FROM g WHERE i % 10 = 0",
    _COUNTER + f"INSERT INTO suppression (phone, reason, opted_out_at) SELECT {_PHONE}, 'STOP', :now FROM g "
    "WHERE i % 50 = 0",
    _COUNTER + "INSERT INTO message (id, campaign_id, subscriber_id, \"to\", state, provider_sid, attempts, held, "
    f"created_at, sent_at, contacted_at) SELECT i, :campaign, {_SUB}, {_PHONE}, "
    "CASE WHEN i <= :sent THEN 'sent' ELSE 'queued' END, "
    "CASE WHEN i <= :sent THEN 'SM' || CAST(1000000 + i AS VARCHAR(20)) END, 0, false, :now, "
    "CASE WHEN i <= :sent THEN :an_hour_ago END, CASE WHEN i <= :sent THEN :an_hour_ago END FROM g",
    # a tracked link per message sent (tokens of the real shape: 16 URL-safe characters)
    _COUNTER + "INSERT INTO link (token, campaign_id, message_id, subscriber_id, position, destination, created_at, "
    f"expires_at) SELECT 'L' || CAST(100000000000000 + i AS VARCHAR(20)), :campaign, i, {_SUB}, 0, "
    "'https://acme.example/fall', :now, :now FROM g WHERE i <= :sent",
]


async def _seed(url: str) -> dict:
    db = Database.from_url(url)
    try:
        async with db.unit_of_work() as session:
            user = User(email="plans@example.com", name="P", roles=["marketer"])
            sender = Sender(kind="short_code", address="12345", label="S", mps=100, state="verified",
                            verified_at=NOW, pool=[])
            session.add_all([user, sender])
            await session.flush()
            list_a = SubscriberList(name="A", opt_in="single", sender_id=sender.id)
            list_b = SubscriberList(name="B", opt_in="single", sender_id=sender.id)
            session.add_all([list_a, list_b])
            await session.flush()
            campaign = Campaign(name="C", author_id=user.id, owner_id=user.id, sender_id=sender.id,
                                body="Acme: hi. Reply STOP to opt out.", state=CampaignState.SENDING)
            session.add(campaign)
            await session.flush()
            session.add(CampaignList(campaign_id=campaign.id, list_id=list_a.id))
            await session.flush()
            moment = UTCDateTime()
            values = {"n": N, "sent": SENT, "list_a": list_a.id, "list_b": list_b.id, "campaign": campaign.id,
                      "now": NOW, "an_hour_ago": NOW - timedelta(hours=1)}
            for statement in _SEED:
                clause = text(statement).bindparams(*(bindparam(name, type_=moment) for name in ("now", "an_hour_ago")
                                                      if f":{name}" in statement))
                await session.execute(clause, {k: v for k, v in values.items() if f":{k}" in statement})
            return {"campaign": campaign.id, "sender": sender.id, "list_a": list_a.id}
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def never_analysed(tmp_path_factory):
    """A database whose tables hold N rows and no statistics: nothing ran ANALYZE."""
    url = databases.create_database(tmp_path_factory.mktemp("plans"), "plans")
    migrations.upgrade(url)
    world = asyncio.run(_seed(url))
    yield url, world
    databases.drop_database(url)


@asynccontextmanager
async def _database(url: str):
    """A Database on one connection whose work is rolled back; on PostgreSQL a statement that walks a
    table quadratically is cut after 20 s (the assertions are on rows and buffers, not on time)."""
    db = Database.from_url(url)
    try:
        async with db.engine.connect() as connection:
            transaction = await connection.begin()
            if connection.dialect.name == "postgresql":
                await connection.exec_driver_sql("SET statement_timeout = '20s'")
                stats = await connection.scalar(text(
                    "SELECT count(*) FROM pg_stats WHERE tablename IN ('subscriber', 'subscription', 'message')"))
                assert stats == 0, "the tables must have no statistics for this test to mean anything"
            yield Database(db.engine, bind=connection, owns_engine=False), connection
            await transaction.rollback()
    finally:
        await db.dispose()


@contextmanager
def captured(connection, marker: str):
    """Every statement (text and parameters, as sent to the driver) containing ``marker``."""
    seen: list[tuple[str, object]] = []

    def on_execute(_conn, _cursor, statement, parameters, _context, executemany):
        if marker in statement:  # of an executemany, its first row
            seen.append((statement, parameters[0] if executemany else parameters))

    engine = connection.engine.sync_engine
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def rows_read(plan: dict) -> int:
    """Rows the plan's table and index scans produced or threw away, over all their loops."""
    total = 0.0
    for node in _nodes(plan):
        if node["Node Type"] in ("Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Tid Scan"):
            per_loop = (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
                        + node.get("Rows Removed by Index Recheck", 0))
            total += per_loop * node["Actual Loops"]
    return int(total)


def buffers(plan: dict) -> int:
    return plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]


def describe(plan: dict, depth: int = 0) -> str:
    line = "  " * depth + f"{plan['Node Type']} {plan.get('Relation Name', '')} {plan.get('Index Name', '')} " \
        f"rows={plan.get('Actual Rows')} loops={plan.get('Actual Loops')}"
    return "\n".join([line, *(describe(child, depth + 1) for child in plan.get("Plans", []))])


async def explain(connection, statement: str, parameters, *, generic: bool, setup: tuple[str, ...] = ()) -> dict:
    """EXPLAIN ANALYZE the statement exactly as the driver was given it, in a savepoint rolled back
    afterwards (so an UPDATE explained changes nothing). ``generic``: as a prepared statement that has
    settled on its generic plan (``plan_cache_mode = force_generic_plan``). ``setup``: what the code ran
    before it in its transaction (``SET LOCAL …``), run first."""
    savepoint = await connection.begin_nested()
    try:
        for step in setup:
            await connection.exec_driver_sql(step)
        if not generic:
            rows = await connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters)
        else:
            await connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
            await connection.exec_driver_sql("PREPARE hot AS " + statement)
            arguments = ", ".join(_literal(value) for value in parameters)
            rows = await connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE hot({arguments})")
        document = rows.scalar()
    finally:
        await savepoint.rollback()
        if generic:
            await connection.exec_driver_sql("DEALLOCATE hot")
    plan = (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]
    return plan


def _literal(value) -> str:
    """A parameter as an SQL literal for EXECUTE (which takes no parameters of its own)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return _literal(value.isoformat())
    if isinstance(value, list | tuple):
        return _literal("{" + ",".join("NULL" if item is None else '"' + str(item).replace('"', '\\"') + '"'
                                       for item in value) + "}")
    return "'" + str(value).replace("'", "''") + "'"


async def sqlite_plan(connection, statement: str, parameters) -> list[str]:
    rows = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
    return [row[3] for row in rows]


def assert_searches_by_key(steps: list[str], keys: dict[str, str | tuple[str, ...]]) -> None:
    """SQLite: none of the tables of ``keys`` is scanned, and each is searched by the key given (a
    table searched by another index, say ``(list_id=? AND state=?)``, is walked)."""
    for step in steps:
        for table, key in keys.items():
            assert not step.startswith("SCAN " + table), steps
            if step.startswith("SEARCH " + table):
                assert any(k in step for k in ((key,) if isinstance(key, str) else key)), steps


async def assert_touches_only(connection, statement: str, parameters, rows: int, what: str,
                              setup: tuple[str, ...] = ()) -> None:
    """PostgreSQL: the custom and the generic plan each read at most ROWS_PER_ROW rows and touch at
    most BUFFERS_PER_ROW buffers per row the statement is about."""
    for generic in (False, True):
        plan = await explain(connection, statement, parameters, generic=generic, setup=setup)
        kind = "generic" if generic else "custom"
        assert rows_read(plan) <= ROWS_PER_ROW * rows, \
            f"{what} ({kind} plan) read {rows_read(plan)} rows for {rows}:\n{describe(plan)}"
        assert buffers(plan) <= BUFFERS_PER_ROW * rows, \
            f"{what} ({kind} plan) touched {buffers(plan)} buffers for {rows}:\n{describe(plan)}"


async def test_the_recipient_lookup_reads_the_batch_not_the_list(never_analysed):
    url, world = never_analysed
    async with _database(url) as (db, connection):
        # the batch the worker would hold: 500 queued messages, in the middle of the list
        first = SENT + 1000
        batch = [Claimed(id=i, campaign_id=world["campaign"], sender_id=world["sender"],
                         subscriber_id=f"sub_{1000000 + i}", to=f"+1415{1000000 + i}", attempts=0, claimed_at=NOW)
                 for i in range(first, first + BATCH)]
        settings = Settings(database_url=url, quiet_hours="off", _env_file=None)
        with captured(connection, "subscription") as seen:
            async with db.unit_of_work() as session:
                _, recipients = await send._load(session, batch, settings)
        # the lookup's answer: everyone but the opted-out (every 50th), each once
        assert len(recipients) == BATCH - BATCH // 50
        assert (world["campaign"], f"sub_{1000000 + first + 50 - first % 50}") not in recipients
        [(statement, parameters)] = seen
        if connection.dialect.name == "sqlite":
            assert_searches_by_key(await sqlite_plan(connection, statement, parameters),
                                   {"subscriber ": "(id=?)", "subscription ": "subscriber_id=?",
                                    "suppression ": "(phone=?)"})
            return
        await assert_touches_only(connection, statement, parameters, BATCH, "the recipient lookup")


_CONTROL = ("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT", "SET ")


async def assert_each_touches_only(connection, seen: list[tuple[str, object]], rows: int, what: str,
                                   keys: dict[str, str]) -> None:
    statements = [(s, p) for s, p in seen if not s.lstrip().upper().startswith(_CONTROL)]
    assert statements, f"{what}: no statement captured"
    for statement, parameters in statements:
        if connection.dialect.name == "sqlite":
            assert_searches_by_key(await sqlite_plan(connection, statement, parameters), keys)
        else:
            await assert_touches_only(connection, statement, parameters, rows, f"{what}: {statement[:80]}")


async def test_a_claim_reads_the_rows_it_claims_not_the_queue(never_analysed):
    url, world = never_analysed
    async with _database(url) as (db, connection):
        for after in (0, SENT + 5000):  # the sweep from the start, and the keyset claim past the cursor
            with captured(connection, "message") as seen:
                async with db.unit_of_work() as session:
                    got = await claim.claim(session, world["campaign"], world["sender"], limit=BATCH, now=NOW,
                                            lease=timedelta(minutes=5), after=after)
            assert len(got) == BATCH and got[0].id > max(after, SENT)
            await assert_each_touches_only(connection, seen, BATCH, "the claim", {"message ": ("(rowid=?)", "rowid>?)")})


async def test_a_status_callback_touches_its_message_only(never_analysed):
    url, world = never_analysed
    settings = Settings(database_url=url, _env_file=None)
    async with _database(url) as (db, connection):
        with captured(connection, "") as seen:  # stored (group commit) and applied (the worker), one of each
            async with db.unit_of_work() as session:
                row = status.parse({"MessageSid": f"SM{1000000 + 77}", "MessageStatus": "delivered"}, "77")
                assert await status.store(session, [row]) == 1
                assert await status.apply_pending(session, settings=settings) == 1
        await assert_each_touches_only(connection, seen, 1, "a status callback",
                                       {"message ": ("(rowid=?)", "(provider_sid=?)"), "campaign ": "(id=?)",
                                        "status_callback ": ("(message_sid=? AND status=?)", "(rowid=?)"),
                                        "status_callback_pending ": ("(rowid=?)", "(callback_id=?)")})


async def test_a_stop_and_its_attribution_touch_that_number_only(never_analysed):
    url, world = never_analysed
    settings = Settings(database_url=url, _env_file=None)
    phone = f"+1415{1000000 + 123}"  # sent an hour ago
    async with _database(url) as (db, connection):
        with captured(connection, "") as seen:
            async with db.unit_of_work() as session:
                assert await consent.opt_out(session, phone, channel="sms", reason="STOP", at=NOW)
                await guard.record_opt_out(session, phone, settings=settings, at=NOW)
        async with db.session() as session:
            assert await session.scalar(select(Campaign.opt_out_count).where(Campaign.id == world["campaign"])) == 1
        await assert_each_touches_only(connection, seen, 1, "a STOP",
                                       {"message ": ("(rowid=?)", "(to=?"), "subscriber ": "(phone=?)",
                                        "subscription ": "(subscriber_id=?)",
                                        "suppression ": "(phone=?)", "campaign ": "(id=?)"})


async def test_recording_a_batch_and_reserving_slots_touch_their_rows_only(never_analysed):
    url, world = never_analysed
    async with _database(url) as (db, connection):
        with captured(connection, "") as seen:
            async with db.unit_of_work() as session:
                await throttle.reserve(session, world["sender"], 100, BATCH)
                await session.execute(send._completion(("state",)), [
                    {"b_id": i, "b_claimed_at": NOW, "v_state": "sent", "v_updated_at": NOW} for i in range(1, 3)])
                assert await session.scalar(select(runner._open_messages(world["campaign"])))
        await assert_each_touches_only(connection, seen, 1, "recording",
                                       {"message ": ("(rowid=?)", "(campaign_id=? AND state=?)"),
                                        "sender_rate ": "(sender_id=?)"})


async def test_holding_the_frequency_cap_touches_the_batchs_numbers_only(never_analysed):
    """The ledger lock, the count of each number's contacts in the window and the places taken: one
    probe per number or message, whatever the planner knows (every sent message is a contact, an
    hour old: the partial index holds SENT of them)."""
    url, world = never_analysed
    half = BATCH // 2
    # queued messages (ids past SENT) to numbers half of which were texted an hour ago
    batch = [Claimed(id=SENT + 1000 + k, campaign_id=world["campaign"], sender_id=world["sender"],
                     subscriber_id=f"sub_{1000001 + SENT - half + k}", to=f"+1415{1000001 + SENT - half + k}",
                     attempts=0, claimed_at=NOW) for k in range(BATCH)]
    async with _database(url) as (db, connection):
        with captured(connection, "") as seen:
            async with db.unit_of_work() as session:
                over = await frequency.reserve(session, batch, FrequencyCap(1, 16), NOW)
        assert over == {c.id for c in batch[:half]}  # texted an hour ago: no room in 16 h
        await assert_each_touches_only(connection, seen, BATCH, "the frequency cap",
                                       {"message ": ("(rowid=?)", "ix_message_contacted"),
                                        "contact_ledger ": "(phone=?)"})


async def test_a_redirect_and_its_click_write_touch_their_links_only(never_analysed):
    url, world = never_analysed
    tokens = [f"L{100000000000000 + i}" for i in range(1000, 1000 + 200)]
    async with _database(url) as (db, connection):
        with captured(connection, "") as seen:
            async with db.unit_of_work() as session:
                found = await links.resolve_many(session, tokens + ["Lnot-a-token-000"])
                assert sorted(found) == sorted(tokens)
                counts = await links.store_clicks(session, [
                    links.PendingClick(link, NOW, "GET", "Mozilla/5.0 (iPhone)", "203.0.113.0/24")
                    for link in found.values()], preview_seconds=10)
                assert counts == {"human": 200}  # delivered (sent) an hour before NOW
        reads = [(s, p) for s, p in seen if s.lstrip().upper().startswith("SELECT")]
        assert len(reads) == 2
        await assert_each_touches_only(connection, reads, 200, "a redirect and its click",
                                       {"link ": "(token=?)", "message ": "(rowid=?)"})


async def test_a_page_of_a_campaigns_messages_reads_that_page_only(never_analysed):
    """GET /v1/campaigns/{id}/messages for a campaign sent after a big one: each page (the first, a
    state's first, one past a cursor) reads its own rows, not the messages of the campaigns before it
    nor the whole campaign to sort it."""
    from app.campaigns import service as campaigns

    url, world = never_analysed
    page, count = 50, 5_000
    async with _database(url) as (db, connection):
        async with db.unit_of_work() as session:
            first = await session.get(Campaign, world["campaign"])
            newer = Campaign(name="Newer", author_id=first.author_id, owner_id=first.owner_id,
                             sender_id=first.sender_id, body=first.body, state=CampaignState.SENDING)
            session.add(newer)
            await session.flush()
            await session.execute(text(
                _COUNTER + "INSERT INTO message (id, campaign_id, subscriber_id, \"to\", state, attempts, held, "
                f"created_at) SELECT :first + i, :campaign, {_SUB}, {_PHONE}, "
                "CASE WHEN i % 2 = 0 THEN 'queued' ELSE 'skipped' END, 0, false, :now FROM g"
            ).bindparams(bindparam("now", type_=UTCDateTime())), {"n": count, "first": N, "campaign": newer.id, "now": NOW})
        for after, state in ((None, None), (None, "skipped"), (N + count // 2, None), (N + count // 2, "queued")):
            with captured(connection, "") as everything:
                async with db.session() as session:
                    got = await campaigns.list_messages(session, newer, limit=page + 1, after=after, state=state)
            setup = tuple(statement for statement, _ in everything if statement.startswith("SET LOCAL"))
            seen = [(statement, parameters) for statement, parameters in everything if "FROM message" in statement]
            assert len(seen) == 1
            assert len(got) == page + 1 and all(m.campaign_id == newer.id for m in got)
            assert got[0].id > (after or N) and (state is None or {m.state for m in got} == {state})
            for statement, parameters in seen:
                if connection.dialect.name == "sqlite":
                    steps = await sqlite_plan(connection, statement, parameters)
                    assert not any("TEMP B-TREE" in step for step in steps), steps  # no sort of the whole campaign
                    assert_searches_by_key(steps, {"message ": "(campaign_id=?"})
                else:
                    await assert_touches_only(connection, statement, parameters, page + 1,
                                              f"a page of messages (after={after}, state={state})", setup)
