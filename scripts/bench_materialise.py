#!/usr/bin/env python
"""Time ``app.campaigns.audience.materialise`` for a large audience on PostgreSQL, beside a bare
``INSERT … SELECT`` of the same rows in the same run (goal: Fineline at most 1.3× the bare statement).

    .venv/bin/python -m scripts.bench_materialise            # 1,000,000 subscribers, ~3 minutes
    .venv/bin/python -m scripts.bench_materialise --rows 1000000 --repeat 2 \
        --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
    .venv/bin/python -m scripts.bench_materialise --variants --explain   # rewrites, EXPLAIN; ~8 minutes
    .venv/bin/python -m scripts.bench_materialise --filtered     # + audience filters (issue 18); ~6 minutes

Run by hand, never from the tests. Steps:

1. CREATE a uniquely named database on the server of ``--pg-url``, migrate it with
   ``app.db.migrations.upgrade`` (outside any event loop), and DROP it WITH (FORCE) at the end, even
   after an error or Ctrl-C.
2. Seed it with set-based SQL (``generate_series``, no ORM objects): one user, one verified sender,
   two single opt-in lists and ``--rows`` subscribers with distinct valid US numbers and three
   attributes (``city``, one of five by g / 7; ``age``, 18 + 37g mod 60, a JSON number for odd g and
   numeric text, as a CSV import stores it, for even g; ``plan``) (area code by
   g mod 6, an exchange ``phonenumbers`` accepts, a permuted line number; a sample is checked with
   ``app.audience.phones.normalize``). Subscriber g is on both lists when g mod 10 = 0 (10%: the
   dedupe), else on list A (odd g) or list B (even g); one ``opt_in`` consent event per subscription.
   Excluded by the sendability rules: g mod 50 = 1 opted out (``subscriber.opted_out_at``, 2%),
   g mod 100 = 2 on the active suppression list (1%), g mod 100 = 5 pending on its only list (1%).
   Still sendable: g mod 100 = 3 (a *lifted* suppression) and g mod 100 = 20 (pending on list A but
   subscribed on list B, so its message must point at the list-B consent event). Then
   VACUUM (FREEZE, ANALYZE).
   Foreign-key triggers are skipped while seeding (``session_replication_role = replica``, one
   transaction); the rows are consistent by construction, and the measured statements run with
   every trigger on.
3. Measure, each from the same state (before every measurement: TRUNCATE message, VACUUM (FREEZE)
   of the rows the foreign-key checks lock, CHECKPOINT, so no statement pays for another's WAL,
   index size or row locks), one campaign each ('approved', both lists in ``campaign_list``):
   - **fineline**: ``materialise(session, campaign, list_ids, cap=…)`` in ``Database.unit_of_work()``,
     the commit included, as at launch: a marketing campaign under the default frequency cap (each
     recipient's contacts in the window probed); with ``--compare-cap`` also **fl-no-cap**, the same
     without the cap (a transactional campaign's launch), in the same run; with ``--contacts`` every
     measurement starts with a campaign sent 20 hours ago to everyone (not TRUNCATEd: its places are
     in the contact index the capped launch probes, outside the window, so nobody is skipped). Its statements are timed one by one (the INSERT, the
     ``ANALYZE message``, the commit);
   - **bare**: the plain ``INSERT INTO message (…) SELECT … GROUP BY`` a person would write for the
     same rows (same list, state, opt-out, erasure, validity and suppression filters; no guard
     against an earlier launch, no ANALYZE), committed, through the same engine and driver;
   - with ``--filtered`` (issue 18: at most 1.5× the unfiltered materialisation), ``materialise`` for
     campaigns with a two-condition attribute filter (app/targeting): **filtered-all**, age > 0 and
     city exists, which every recipient passes (the worst case: the filter is evaluated on every row
     and nothing is saved on the inserts), and **filtered-austin**, city = Austin and age > 30
     (about 16% of the audience);
   - with ``--variants``, candidate rewrites of ``materialise`` (built in this script, app/ untouched):
     without its ``ANALYZE message``; with ``ORDER BY subscriber.id`` after the GROUP BY; with
     DISTINCT ON (subscriber.id) instead of GROUP BY/min.
   The order of fineline and bare alternates across ``--repeat``. Every measurement must insert
   exactly the expected number of sendable distinct subscribers, with the same (subscriber,
   consent event, number) rows as every other one; otherwise the script fails.
4. Print the rows, the seconds (and per measurement the WAL written, checkpoints and buffers the
   backend had to write itself), the ratio fineline / bare against the goal, the core count, the
   server's settings and this command line. ``--explain`` adds EXPLAIN (ANALYZE, BUFFERS) of the
   INSERTs exactly as sent (each really runs, in a transaction rolled back).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import bindparam, event, func, insert, literal, select, text
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from app.audience import phones
from app.audience.consent import sendable_condition
from app.campaigns.audience import materialise
from app.company.policy import FrequencyCap
from app.db import Database
from app.db.base import utcnow
from app.models import Campaign, CampaignList, Message, Subscriber, Subscription
from scripts.benchkit import scratch_database

ROOT = Path(__file__).resolve().parent.parent

GOAL = 1.3
FILTER_GOAL = 1.5
#: name -> the campaign's audience filter (normal form), for --filtered
FILTERS = {
    "filtered-all": {"all": [{"attribute": "age", "op": "gt", "value": 0},
                             {"attribute": "city", "op": "exists", "value": True}]},
    "filtered-austin": {"all": [{"attribute": "city", "op": "eq", "value": "Austin"},
                                {"attribute": "age", "op": "gt", "value": 30}]},
}
CITIES = ("Austin", "Boston", "Chicago", "Denver", "Seattle")
AREA_CODES = ("212", "312", "415", "617", "713", "206")
LIST_A, LIST_B = "lst_bench_a", "lst_bench_b"
LIST_IDS = [LIST_A, LIST_B]
USER_ID, SENDER_ID = "usr_bench", "snd_bench"

# The simplest SQL a person would write for the same rows: same filters, same dedupe (one row per
# subscriber, the smallest consent event id), no guard against an earlier launch, no ANALYZE.
BARE_SQL = """
INSERT INTO message (campaign_id, subscriber_id, consent_event_id, "to", state, created_at, attempts)
SELECT :campaign_id, s.id, min(sn.consent_event_id), s.phone, 'queued', now(), 0
FROM subscription sn
JOIN subscriber s ON s.id = sn.subscriber_id
WHERE sn.list_id IN :list_ids
  AND sn.state = 'subscribed'
  AND s.opted_out_at IS NULL AND s.erased_at IS NULL AND s.invalid_reason IS NULL
  AND NOT EXISTS (SELECT 1 FROM suppression x WHERE x.phone = s.phone AND x.lifted_at IS NULL)
GROUP BY s.id, s.phone
"""


# ---------------------------------------------------------------------------------------------
# the scratch database
# ---------------------------------------------------------------------------------------------



async def autocommit(engine: AsyncEngine, *statements: str) -> None:
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        for sql in statements:
            await conn.execute(text(sql))


#: subscriber g's attributes (the rules in the docstring, step 2)
ATTRIBUTES_SQL = (
    "json_build_object('city', (ARRAY['" + "','".join(CITIES) + "'])[1 + (g / 7) % 5], "
    "'age', CASE WHEN g % 2 = 1 THEN to_json(18 + (g * 37) % 60) ELSE to_json((18 + (g * 37) % 60)::text) END, "
    "'plan', CASE WHEN g % 3 = 0 THEN 'gold' ELSE 'basic' END)"
)

# ---------------------------------------------------------------------------------------------
# 2. seeding
# ---------------------------------------------------------------------------------------------

def valid_exchanges() -> list[str]:
    """Exchanges 200-999 that ``phonenumbers`` accepts as SMS-capable in every one of AREA_CODES."""
    keep = []
    for exchange in range(200, 1000):
        ex = f"{exchange:03d}"
        if ex[1:] == "11" or ex == "555":
            continue
        try:
            for area in AREA_CODES:
                for line in ("2345", "8071"):
                    phones.normalize(f"+1{area}{ex}{line}")
        except phones.InvalidPhone:
            continue
        keep.append(ex)
    return keep


def phone_sql(exchanges: list[str]) -> str:
    """SQL for subscriber g's number: area by g mod 6, then an exchange, then a permuted line."""
    areas = ",".join(f"'{a}'" for a in AREA_CODES)
    exes = ",".join(f"'{e}'" for e in exchanges)  # digits only, from valid_exchanges()
    k = len(exchanges)
    return (f"'+1' || (ARRAY[{areas}])[1 + g % 6] || (ARRAY[{exes}])[1 + (g / 6) % {k}]"
            f" || lpad((((g / 6 / {k}) * 7919 + 1234) % 10000)::text, 4, '0')")


@dataclass
class Expected:
    sendable: int
    via_list_b: int  # rows whose smallest permitting consent event is list B's


def expected(rows: int, only=None) -> Expected:
    """The sendable audience (of those ``only(g)`` keeps), from the seeding rules alone (not from SQL)."""
    sendable = via_b = 0
    for g in range(1, rows + 1):
        if g % 50 == 1 or g % 100 == 2 or (only is not None and not only(g)):
            continue
        on_a = g % 2 == 1 or g % 10 == 0
        on_b = g % 2 == 0
        a_ok = on_a and g % 100 not in (5, 20)
        if a_ok or on_b:
            sendable += 1
            via_b += not a_ok
    return Expected(sendable, via_b)


def austin_over_30(g: int) -> bool:
    return CITIES[(g // 7) % 5] == "Austin" and 18 + (g * 37) % 60 > 30


def campaign_names(args) -> list[str]:
    names = ["fineline", "bare"]
    if args.compare_cap:
        names.append("fl-no-cap")
    if args.contacts:
        names.append(PRIOR)
    if args.filtered:
        names += list(FILTERS)
    if args.variants:
        names += list(VARIANTS)
    return names


async def seed(engine: AsyncEngine, rows: int, campaigns: list[str]) -> dict[str, float]:
    exchanges = valid_exchanges()
    capacity = len(AREA_CODES) * len(exchanges) * 10_000
    if rows > capacity:
        raise SystemExit(f"--rows {rows} exceeds this number plan's {capacity} distinct numbers")
    sub_id = "'sub_' || lpad(g::text, 12, '0')"
    steps = {
        "user, sender, lists, campaigns": [
            f"""INSERT INTO "user" (id, email, name, roles, created_at)
                VALUES ('{USER_ID}', 'bench@example.com', 'Bench', '["marketer"]', now())""",
            f"""INSERT INTO sender (id, kind, address, label, mps, mps_overridden, state, pool, created_at,
                                    verified_at, registered_by_id)
                VALUES ('{SENDER_ID}', 'short_code', '12345', 'Bench', 100, false, 'verified', '[]', now(),
                        now(), '{USER_ID}')""",
            f"""INSERT INTO subscriber_list (id, name, opt_in, sender_id, created_by_id, created_at)
                VALUES ('{LIST_A}', 'Bench A', 'single', '{SENDER_ID}', '{USER_ID}', now()),
                       ('{LIST_B}', 'Bench B', 'single', '{SENDER_ID}', '{USER_ID}', now())""",
            *(f"""INSERT INTO campaign (id, name, author_id, owner_id, sender_id, body, spike_policy, state,
                                        oops_warned, created_at, updated_at, approved_at, approved_by_id)
                  VALUES ('cmp_bench_{name}', 'Bench {name}', '{USER_ID}', '{USER_ID}', '{SENDER_ID}',
                          'Hi. Reply STOP to end', 'pause', 'approved', false, now(), now(), now(), '{USER_ID}')"""
              for name in campaigns),
            *(f"""INSERT INTO campaign_list (campaign_id, list_id)
                  VALUES ('cmp_bench_{name}', '{LIST_A}'), ('cmp_bench_{name}', '{LIST_B}')"""
              for name in campaigns),
        ],
        "subscribers": [
            f"""INSERT INTO subscriber (id, phone, attributes, time_zone, time_zones, opted_out_at, created_at)
                SELECT {sub_id}, {phone_sql(exchanges)}, {ATTRIBUTES_SQL}, 'America/New_York', '["America/New_York"]',
                       CASE WHEN g % 50 = 1 THEN now() - interval '7 days' END, now() - interval '30 days'
                FROM generate_series(1, {rows}) AS g""",
        ],
        "consent events": [
            """INSERT INTO consent_event (id, subscriber_id, list_id, kind, channel, evidence, phone,
                                           consented_at, recorded_at)
                SELECT 'cev_' || l.tag || '_' || lpad(s.g::text, 12, '0'), s.id, 'lst_bench_' || l.tag,
                       'opt_in', 'import', 'bench seed', s.phone, now() - interval '30 days', now()
                FROM (SELECT id, phone, substr(id, 5)::int AS g FROM subscriber) AS s
                CROSS JOIN (VALUES ('a'), ('b')) AS l (tag)
                WHERE (l.tag = 'a' AND (s.g % 2 = 1 OR s.g % 10 = 0)) OR (l.tag = 'b' AND s.g % 2 = 0)""",
        ],
        "subscriptions": [
            f"""INSERT INTO subscription (id, list_id, subscriber_id, state, consent_event_id, created_at,
                                          updated_at)
                SELECT 'sbn_' || substr(e.id, 5), e.list_id, e.subscriber_id,
                       CASE WHEN e.list_id = '{LIST_A}' AND substr(e.subscriber_id, 5)::int % 100 IN (5, 20)
                            THEN 'pending' ELSE 'subscribed' END,
                       e.id, now() - interval '30 days', now() - interval '30 days'
                FROM consent_event AS e""",
        ],
        "suppressions": [
            """INSERT INTO suppression (phone, reason, opted_out_at, lifted_at)
               SELECT phone, 'STOP', now() - interval '20 days',
                      CASE WHEN g % 100 = 3 THEN now() - interval '10 days' END
               FROM (SELECT phone, substr(id, 5)::int AS g FROM subscriber) AS s
               WHERE g % 100 IN (2, 3)""",
        ],
    }
    timings: dict[str, float] = {}
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        for step, statements in steps.items():
            started = time.perf_counter()
            for sql in statements:
                await conn.execute(text(sql))
            timings[step] = time.perf_counter() - started
    started = time.perf_counter()
    await autocommit(engine, "VACUUM (FREEZE, ANALYZE)")
    timings["VACUUM (FREEZE, ANALYZE)"] = time.perf_counter() - started
    async with engine.connect() as conn:
        sample = (await conn.execute(text("SELECT phone FROM subscriber TABLESAMPLE SYSTEM (1) LIMIT 2000"))).scalars()
        for phone in sample:
            if phones.normalize(phone) != phone:
                raise RuntimeError(f"seeded number {phone} is not in E.164 storage form")
    return timings


# ---------------------------------------------------------------------------------------------
# 3. the measurements
# ---------------------------------------------------------------------------------------------

@dataclass
class Run:
    name: str
    seconds: float
    inserted: int
    statements: list[tuple[str, float]] = field(default_factory=list)  # (first words, seconds)
    sql: list[tuple[str, object]] = field(default_factory=list)  # (driver SQL, driver parameters)
    load: str = ""


class StatementClock:
    """Times every statement the engine sends (before/after cursor execute) while it is armed."""

    def __init__(self, db: Database) -> None:
        self.armed = False
        self.log: list[tuple[str, float]] = []
        self.sql: list[tuple[str, object]] = []
        sync = db.engine.sync_engine

        @event.listens_for(sync, "before_cursor_execute")
        def _before(conn, cursor, statement, parameters, context, executemany):
            conn.info["bench_started"] = time.perf_counter()

        @event.listens_for(sync, "after_cursor_execute")
        def _after(conn, cursor, statement, parameters, context, executemany):
            if self.armed:
                words = " ".join(statement.split()[:2])
                self.log.append((words, time.perf_counter() - conn.info.pop("bench_started")))
                self.sql.append((statement, parameters))

    def arm(self) -> None:
        self.log, self.sql, self.armed = [], [], True

    def disarm(self) -> tuple[list[tuple[str, float]], list[tuple[str, object]]]:
        self.armed = False
        return self.log, self.sql


async def load_now(engine: AsyncEngine) -> str:
    """Anything else busy on the server or the machine (other benchmarks skew the figures)."""
    async with engine.connect() as conn:
        others = await conn.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
            "AND state = 'active' AND pid <> pg_backend_pid()"))
    return f"load {os.getloadavg()[0]:.2f}, {others} other active"


#: ``--contacts``: the campaign whose texts every measured launch finds in the contact index.
PRIOR = "prior"


async def seed_contacts(engine: AsyncEngine) -> None:
    """A campaign sent 20 hours ago to every subscriber: each one's place under the cap is in
    ``ix_message_contacted`` (probed by every capped launch), outside the default 16 h window, so the
    rows a launch inserts stay the same."""
    await autocommit(engine, f"""INSERT INTO message (campaign_id, subscriber_id, "to", state, attempts, held,
                                                     created_at, sent_at, contacted_at)
        SELECT 'cmp_bench_{PRIOR}', id, phone, 'sent', 0, false, now(), now() - interval '20 hours',
               now() - interval '20 hours' FROM subscriber""",
                     "VACUUM (FREEZE, ANALYZE) message", "CHECKPOINT")


async def reset(engine: AsyncEngine) -> None:
    """The same starting point for every measurement: an empty ``message``; the rows the foreign-key
    checks lock (FOR KEY SHARE writes each referenced subscriber and consent event tuple) frozen
    again, as after seeding; nothing dirty."""
    # link and link_click point at messages (and are empty here): TRUNCATE refuses one without the other
    await autocommit(engine, "TRUNCATE message, link, link_click", "VACUUM (FREEZE) subscriber, consent_event, campaign",
                     "CHECKPOINT")


async def server_counters(engine: AsyncEngine) -> tuple:
    async with engine.connect() as conn:
        return tuple((await conn.execute(text(
            "SELECT pg_current_wal_lsn(), checkpoints_timed + checkpoints_req, buffers_backend "
            "FROM pg_stat_bgwriter"))).one())


async def server_delta(engine: AsyncEngine, before: tuple) -> str:
    async with engine.connect() as conn:
        wal, checkpoints, backend = (await conn.execute(text(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), :lsn), checkpoints_timed + checkpoints_req - :c, "
            "buffers_backend - :b FROM pg_stat_bgwriter"), {"lsn": before[0], "c": before[1], "b": before[2]})).one()
    return f"WAL {wal / 2**20:,.0f} MB, {checkpoints} checkpoint(s), {backend} buffers written by backends"


async def run_fineline(db: Database, clock: StatementClock, campaign_id: str, cap: FrequencyCap | None,
                       name: str = "fineline") -> Run:
    async with db.unit_of_work() as session:
        campaign = await session.get(Campaign, campaign_id)
        list_ids = list((await session.scalars(
            select(CampaignList.list_id).where(CampaignList.campaign_id == campaign_id).order_by(CampaignList.list_id)
        )).all())
        clock.arm()
        started = time.perf_counter()
        count = await materialise(session, campaign, list_ids, cap=cap)
        before_commit = time.perf_counter()
    finished = time.perf_counter()
    timed, sql = clock.disarm()
    return Run(name, finished - started, count, timed + [("COMMIT", finished - before_commit)], sql)


async def run_bare(db: Database, clock: StatementClock, campaign_id: str) -> Run:
    statement = text(BARE_SQL).bindparams(bindparam("list_ids", expanding=True))
    async with db.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))  # the connection is open before the clock starts
        await conn.rollback()
        clock.arm()
        started = time.perf_counter()
        result = await conn.execute(statement, {"campaign_id": campaign_id, "list_ids": LIST_IDS})
        before_commit = time.perf_counter()
        await conn.commit()
        finished = time.perf_counter()
    timed, sql = clock.disarm()
    return Run("bare", finished - started, result.rowcount, timed + [("COMMIT", finished - before_commit)], sql)


# --- candidate rewrites of materialise (app/ untouched) ----------------------------------------

def rows_query(campaign_id: str, list_ids: list[str], *, dedupe: str = "group_by", guard: bool = True):
    """``materialise``'s SELECT (same guard, same filters), optionally with the dedupe changed.

    dedupe: 'group_by' (as today: HashAggregate, rows leave in hash order), 'group_by_ordered'
    (the same plus ORDER BY subscriber id) or 'distinct_on' (DISTINCT ON (subscriber id) ORDER BY
    subscriber id, consent event id). guard=False drops the NOT EXISTS against ``message``.
    """
    now = literal(utcnow(), type_=Message.__table__.c.created_at.type)
    consent = Subscription.consent_event_id if dedupe == "distinct_on" else func.min(Subscription.consent_event_id)
    rows = (
        select(literal(campaign_id).label("campaign_id"), Subscriber.id, consent, Subscriber.phone,
               literal("queued"), now)
        .select_from(Subscription).join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(sendable_condition(list_ids))
    )
    if guard:
        already = select(Message.id).where(Message.campaign_id == campaign_id, Message.subscriber_id == Subscriber.id)
        rows = rows.where(~already.exists())
    if dedupe == "distinct_on":
        return rows.ext(distinct_on(Subscriber.id)).order_by(Subscriber.id, Subscription.consent_event_id)
    rows = rows.group_by(Subscriber.id, Subscriber.phone)
    return rows.order_by(Subscriber.id) if dedupe == "group_by_ordered" else rows


def variant_statement(campaign_id: str, list_ids: list[str], *, dedupe: str):
    columns = ["campaign_id", "subscriber_id", "consent_event_id", "to", "state", "created_at"]
    return insert(Message).from_select(columns, rows_query(campaign_id, list_ids, dedupe=dedupe))


#: name -> (dedupe, ANALYZE message after the insert?)
VARIANTS = {
    "fl-no-analyze": ("group_by", False),
    "fl-ordered": ("group_by_ordered", True),
    "fl-distinct-on": ("distinct_on", True),
}


async def run_variant(db: Database, clock: StatementClock, name: str) -> Run:
    dedupe, analyze = VARIANTS[name]
    async with db.unit_of_work() as session:
        await session.get(Campaign, f"cmp_bench_{name}")
        clock.arm()
        started = time.perf_counter()
        result = await session.execute(variant_statement(f"cmp_bench_{name}", LIST_IDS, dedupe=dedupe))
        if analyze:
            await session.execute(text("ANALYZE message"))
        before_commit = time.perf_counter()
    finished = time.perf_counter()
    timed, sql = clock.disarm()
    return Run(name, finished - started, result.rowcount, timed + [("COMMIT", finished - before_commit)], sql)


async def set_filters(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for name, audience in FILTERS.items():
            await conn.execute(text("UPDATE campaign SET audience_filter = CAST(:f AS json) WHERE id = :id"),
                               {"f": json.dumps(audience), "id": f"cmp_bench_{name}"})


async def check(engine: AsyncEngine, run: Run, want: Expected, fingerprints: dict[str, tuple] | None) -> None:
    async with engine.connect() as conn:
        row = (await conn.execute(text(
            "SELECT count(*), count(DISTINCT subscriber_id), "
            "count(*) FILTER (WHERE left(consent_event_id, 6) = 'cev_b_'), "
            "count(*) FILTER (WHERE state <> 'queued' OR attempts <> 0 OR consent_event_id IS NULL), "
            "sum(hashtext(subscriber_id || ' ' || consent_event_id || ' ' || \"to\")::bigint), "
            f"count(DISTINCT campaign_id) FROM message WHERE campaign_id <> 'cmp_bench_{PRIOR}'"))).one()
    count, distinct, via_b, odd, digest, campaigns = row
    problems = []
    if run.inserted != count:
        problems.append(f"rowcount {run.inserted} but {count} rows in message")
    if count != want.sendable or distinct != want.sendable:
        problems.append(f"{count} rows ({distinct} distinct subscribers), expected {want.sendable} sendable")
    if via_b != want.via_list_b:
        problems.append(f"{via_b} rows point at a list-B consent event, expected {want.via_list_b}")
    if odd or campaigns != 1:
        problems.append(f"{odd} rows not queued/attempts 0/with consent; {campaigns} campaigns")
    if fingerprints is not None:
        fingerprints[run.name] = (count, digest)
    if fingerprints is not None and len(set(fingerprints.values())) > 1:
        problems.append(f"rows differ between measurements: {fingerprints}")
    if problems:
        raise RuntimeError(f"{run.name}: " + "; ".join(problems))


async def explain(db: Database, run: Run) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the INSERT ``run`` sent, with its parameters: it really runs, then
    is rolled back."""
    sql, parameters = next((q, p) for q, p in run.sql if q.lstrip().upper().startswith("INSERT"))
    async with db.engine.connect() as conn:
        result = await conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, VERBOSE) " + sql, parameters)
        plan = "\n".join(row[0] for row in result)
        await conn.rollback()
    return plan


async def explain_select(db: Database, statement) -> str:
    """Run ``statement`` once (to get the driver's SQL, and a warm cache), then EXPLAIN (ANALYZE, BUFFERS) it."""
    captured: list[tuple[str, object]] = []

    def _capture(conn, cursor, sql, parameters, context, executemany):
        captured.append((sql, parameters))

    sync = db.engine.sync_engine
    async with db.engine.connect() as conn:
        event.listen(sync, "before_cursor_execute", _capture)
        try:
            await conn.execute(statement)
        finally:
            event.remove(sync, "before_cursor_execute", _capture)
        sql, parameters = captured[-1]
        result = await conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql, parameters)
        return "\n".join(row[0] for row in result)


async def guard_cost(db: Database, engine: AsyncEngine) -> dict[str, str]:
    """What materialise's NOT EXISTS guard costs when ``message`` already holds another campaign's rows
    (as in production): its SELECT counted with and without the guard, after ANALYZE message."""
    async with engine.connect() as conn:
        present = set((await conn.execute(text("SELECT DISTINCT campaign_id FROM message"))).scalars())
        held = await conn.scalar(text("SELECT count(*) FROM message"))
    campaign_id = next(c for c in ("cmp_bench_fineline", "cmp_bench_bare") if c not in present)
    await autocommit(engine, "ANALYZE message")
    plans = {}
    for guarded in (True, False):
        query = select(func.count()).select_from(rows_query(campaign_id, LIST_IDS, guard=guarded).subquery())
        title = (f"materialise's SELECT {'with' if guarded else 'without'} the NOT EXISTS guard, "
                 f"message holding {held} rows of {', '.join(sorted(present)) or 'no campaign'}")
        plans[title] = await explain_select(db, query)
    return plans


# ---------------------------------------------------------------------------------------------
# 4. the report
# ---------------------------------------------------------------------------------------------

async def server_settings(engine: AsyncEngine) -> str:
    names = ("server_version", "shared_buffers", "work_mem", "maintenance_work_mem", "max_wal_size",
             "synchronous_commit", "max_parallel_workers_per_gather", "jit", "autovacuum")
    async with engine.connect() as conn:
        values = [f"{n}={await conn.scalar(text(f'SHOW {n}'))}" for n in names]
    return ", ".join(values)


def fmt_statements(run: Run) -> str:
    return "; ".join(f"{words} {seconds:.2f}s" for words, seconds in run.statements)


async def bench(url: str, args) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    db = Database.from_url(url)
    clock = StatementClock(db)
    try:
        print(f"server: {await server_settings(engine)}", flush=True)
        names = campaign_names(args)
        started = time.perf_counter()
        timings = await seed(engine, args.rows, names)
        print("seeded in " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())
              + f" (total {time.perf_counter() - started:.1f}s)", flush=True)
        want = expected(args.rows)
        async with engine.connect() as conn:
            sizes = (await conn.execute(text(
                "SELECT (SELECT count(*) FROM subscriber), (SELECT count(*) FROM subscription), "
                "(SELECT count(*) FROM suppression WHERE lifted_at IS NULL)"))).one()
        print(f"seeded {sizes[0]} subscribers, {sizes[1]} subscriptions, {sizes[2]} active suppressions; "
              f"expected sendable distinct subscribers: {want.sendable} ({want.via_list_b} via list B only)",
              flush=True)

        runners = {
            "fineline": lambda: run_fineline(db, clock, "cmp_bench_fineline", FrequencyCap(1, 16)),
            "bare": lambda: run_bare(db, clock, "cmp_bench_bare"),
            "fl-no-cap": lambda: run_fineline(db, clock, "cmp_bench_fl-no-cap", None, "fl-no-cap"),
        }
        wants = {"filtered-austin": expected(args.rows, austin_over_30)}
        if args.filtered:
            await set_filters(engine)
            for name in FILTERS:
                runners[name] = (lambda n: lambda: run_fineline(db, clock, f"cmp_bench_{n}", FrequencyCap(1, 16), n))(name)
        runs: list[Run] = []
        fingerprints: dict[str, tuple] = {}
        for index in range(args.repeat):
            order = ["fineline", "bare"] if index % 2 == 0 else ["bare", "fineline"]
            if args.compare_cap:  # first in one repeat, last in the next
                order = ["fl-no-cap", *order] if index % 2 == 0 else [*order, "fl-no-cap"]
            if args.filtered:
                order = order + list(FILTERS) if index % 2 == 0 else list(FILTERS)[::-1] + order
            if args.variants and index == 0:
                order += list(VARIANTS)
            for name in order:
                await reset(engine)
                if args.contacts:
                    await seed_contacts(engine)
                load = await load_now(engine)
                counters = await server_counters(engine)
                run = await (runners[name]() if name in runners else run_variant(db, clock, name))
                run.load = f"{load}; {await server_delta(engine, counters)}"
                await check(engine, run, wants.get(name, want), None if name in wants else fingerprints)
                runs.append(run)
                print(f"  repeat {index + 1}: {name:<14} {run.seconds:7.2f}s  {run.inserted} rows  "
                      f"[{fmt_statements(run)}] ({run.load})", flush=True)

        explained = {}
        if args.explain:
            # ``message`` still holds the last measurement's rows: another campaign's, as a launch meets them.
            explained.update(await guard_cost(db, engine))
            for name in ("fineline", "bare", "fl-ordered"):
                run = next((r for r in runs if r.name == name), None)
                if run is not None:
                    await reset(engine)
                    explained[f"{name}, the INSERT as sent"] = await explain(db, run)
        report(args, runs, want, explained)
    finally:
        await db.dispose()
        await engine.dispose()


def report(args, runs: list[Run], want: Expected, explained: dict[str, str]) -> None:
    def median(name: str) -> float | None:
        values = [r.seconds for r in runs if r.name == name]
        return statistics.median(values) if values else None

    bare = median("bare")
    cores = os.cpu_count()
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    print()
    print(f"materialise on PostgreSQL: {args.rows} subscribers seeded, {want.sendable} recipients per run, "
          f"{args.repeat} repeat(s); {cores} cores ({affinity} usable)")
    print(f"{'measurement':<28}{'runs':>5}{'median s':>10}{'min s':>8}{'rows/s':>11}{'× bare':>8}")
    seen = []
    for run in runs:
        if run.name not in seen:
            seen.append(run.name)
    for name in seen:
        values = [r.seconds for r in runs if r.name == name]
        m = statistics.median(values)
        print(f"{name:<28}{len(values):>5}{m:>10.2f}{min(values):>8.2f}{want.sendable / m:>11,.0f}"
              f"{m / bare:>8.2f}")
    ratio = median("fineline") / bare
    verdict = "meets" if ratio <= GOAL else "MISSES"
    print(f"ratio fineline / bare = {ratio:.2f}× — {verdict} the goal of ≤ {GOAL}×")
    unfiltered = median("fineline")
    for name in FILTERS:
        filtered = median(name)
        if filtered is not None:
            rows = next(r.inserted for r in runs if r.name == name)
            verdict = "meets" if filtered / unfiltered <= FILTER_GOAL else "MISSES"
            print(f"ratio {name} / fineline = {filtered / unfiltered:.2f}× ({rows} recipients) — {verdict} "
                  f"the goal of ≤ {FILTER_GOAL}×")
    for title, plan in explained.items():
        print(f"\nEXPLAIN (ANALYZE, BUFFERS, VERBOSE) — {title}:\n{plan}")
    executable = Path(sys.executable)
    if executable.is_relative_to(Path.cwd()):
        executable = executable.relative_to(Path.cwd())
    print("\ncommand: " + shlex.join([str(executable), *sys.argv]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="subscribers to seed (default 1,000,000)")
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
                        help="a database on the server to use; a scratch database is created beside it")
    parser.add_argument("--repeat", type=int, default=1, help="fineline/bare pairs, order alternating")
    parser.add_argument("--filtered", action="store_true", help="also time materialise with audience filters")
    parser.add_argument("--variants", action="store_true", help="also time candidate rewrites of materialise")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN (ANALYZE, BUFFERS) of both INSERTs")
    parser.add_argument("--contacts", action="store_true",
                        help="before each measurement, a campaign sent 20 h ago to everyone (its contacts in the "
                             "index each capped launch probes; outside the 16 h window, so nobody is skipped)")
    parser.add_argument("--compare-cap", action="store_true",
                        help="also time materialise without the frequency cap (fl-no-cap: a transactional "
                             "campaign's launch); fineline is a marketing launch under the default cap (1 per 16 h)")
    args = parser.parse_args()
    if args.rows < 100 or args.repeat < 1:
        parser.error("--rows must be at least 100 and --repeat at least 1")

    with scratch_database(args.pg_url, "mat", migrate=True) as url:
        asyncio.run(bench(url, args))


if __name__ == "__main__":
    main()
