#!/usr/bin/env python
"""The campaign report on a large campaign (PostgreSQL): its time, and the Python memory it takes for
the JSON report and for the streamed CSV, at two audience sizes in one run — the memory must not
grow with the audience (docs/benchmarks.md, "Campaign report").

    .venv/bin/python -m scripts.bench_report                      # 100,000 and 1,000,000 messages
    .venv/bin/python -m scripts.bench_report --rows 20000 --rows 200000 \
        --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

Run by hand, never from the tests. For each size: a scratch database (created, migrated, dropped WITH
(FORCE) at the end), seeded set-based (``generate_series``, foreign-key triggers off while seeding)
with one completed canary campaign of ``rows`` messages in a known mix — by g mod 100: 0–79
delivered, 80–84 undelivered (30007, or 30003 when g is odd), 85–87 failed (30008), 88–91 skipped (two
reasons), 92–99 sent; opted out when g mod 200 = 0, answered (an inbound text to the sender five
minutes after the send) when g mod 50 = 7, clicked by a person when g mod 20 = 3 and by a previewer
when g mod 20 = 4; sent over ``rows / 200`` seconds; segments 1, or 2 when g mod 7 = 0; the rest held
behind the canary when g mod 10 ≠ 0. Then, without table statistics and again after ANALYZE:

- the report (``app.reports.service.campaign_report``): seconds, then in a second run the peak of
  Python allocations during it (tracemalloc, which slows allocation too much to time with it);
  checked against counts of the seeded mix;
- the CSV (``app.reports.export.outcome_csv``), read to the end: seconds, bytes, rows (must be the
  audience plus a header); without statistics also a second read for the peak of Python allocations.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
import time
import tracemalloc

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.config import Settings
from app.db import Database
from app.models import Campaign
from app.reports import export, service
from scripts.benchkit import scratch_database

CAMPAIGN, SENDER, USER = "cmp_bench_report", "snd_bench", "usr_bench"


def seed_statements(rows: int) -> list[str]:
    sub = "'sub_' || lpad(g::text, 12, '0')"
    phone = "'+1' || (2000000000 + g)::text"
    sent_at = f"(now() - interval '1 day' + (g * {max(rows // 200, 1)}.0 / {rows}) * interval '1 second')"
    return [
        f"""INSERT INTO "user" (id, email, name, roles, created_at)
            VALUES ('{USER}', 'bench@example.com', 'Bench', '["marketer"]', now())""",
        f"""INSERT INTO sender (id, kind, address, label, mps, mps_overridden, state, pool, created_at, verified_at,
                                registered_by_id)
            VALUES ('{SENDER}', 'short_code', '12345', 'Bench', 100, false, 'verified', '[]', now(), now(), '{USER}')""",
        f"""INSERT INTO campaign (id, name, author_id, owner_id, sender_id, body, rollout, spike_policy, state,
                                  oops_warned, created_at, updated_at, launched_at, completed_at,
                                  canary_released_at)
            VALUES ('{CAMPAIGN}', 'Bench report', '{USER}', '{USER}', '{SENDER}', 'Hi. Reply STOP to opt out.',
                    '{{"first_slice_percent": 10, "observe_minutes": 30}}', 'pause', 'completed', false, now(),
                    now(), now() - interval '1 day', now(), now() - interval '23 hours')""",
        f"""INSERT INTO subscriber (id, phone, attributes, time_zone, time_zones, created_at)
            SELECT {sub}, {phone}, '{{}}', 'America/New_York', '["America/New_York"]', now()
            FROM generate_series(1, {rows}) AS g""",
        f"""INSERT INTO message (id, campaign_id, subscriber_id, "to", state, skip_reason, error_code, attempts, held,
                                 canary_rest, segments, opted_out_at, created_at, updated_at, sent_at, delivered_at)
            SELECT g, '{CAMPAIGN}', {sub}, {phone}, s.state,
                   CASE WHEN s.state = 'skipped' THEN CASE WHEN g % 2 = 0 THEN 'no longer sendable: opted out,'
                        || ' unsubscribed or erased' ELSE 'the campaign was cancelled' END END,
                   CASE WHEN s.state = 'undelivered' THEN CASE WHEN g % 2 = 1 THEN 30003 ELSE 30007 END
                        WHEN s.state = 'failed' THEN 30008 END,
                   1, false, g % 10 <> 0,
                   CASE WHEN s.state IN ('sent', 'delivered', 'undelivered') THEN CASE WHEN g % 7 = 0 THEN 2 ELSE 1 END END,
                   CASE WHEN g % 200 = 0 AND s.state = 'delivered' THEN {sent_at} + interval '2 minutes' END,
                   now() - interval '2 days', {sent_at} + interval '30 seconds',
                   CASE WHEN s.state <> 'skipped' THEN {sent_at} END,
                   CASE WHEN s.state = 'delivered' THEN {sent_at} + interval '3 seconds' END
            FROM generate_series(1, {rows}) AS g,
                 LATERAL (SELECT CASE WHEN g % 100 < 80 THEN 'delivered' WHEN g % 100 < 85 THEN 'undelivered'
                                      WHEN g % 100 < 88 THEN 'failed' WHEN g % 100 < 92 THEN 'skipped'
                                      ELSE 'sent' END AS state) AS s""",
        f"""INSERT INTO inbound_message (id, message_sid, from_phone, "to", body, classification, received_at, params)
            SELECT 'inb_' || lpad(g::text, 12, '0'), 'SM' || lpad(g::text, 32, '0'), {phone}, '12345', 'is it on?',
                   'reply', {sent_at} + interval '5 minutes', '{{}}'
            FROM generate_series(1, {rows}) AS g WHERE g % 50 = 7""",
        f"""INSERT INTO link_click (token, campaign_id, message_id, subscriber_id, position, clicked_at, kind)
            SELECT 'tok' || lpad(g::text, 29, '0'), '{CAMPAIGN}', g, {sub}, 0, {sent_at} + interval '1 minute',
                   CASE WHEN g % 20 = 3 THEN 'human' ELSE 'bot' END
            FROM generate_series(1, {rows}) AS g WHERE g % 20 IN (3, 4)""",
    ]


def expected(rows: int) -> dict[str, int]:
    g = range(1, rows + 1)
    state = {n: ("delivered" if n % 100 < 80 else "undelivered" if n % 100 < 85 else "failed" if n % 100 < 88
                 else "skipped" if n % 100 < 92 else "sent") for n in g}
    sent = [n for n in g if state[n] in ("sent", "delivered", "undelivered")]
    return {
        "audience": rows, "delivered": sum(state[n] == "delivered" for n in g),
        "failed": sum(state[n] in ("failed", "undelivered") for n in g), "sent": len(sent),
        "skipped": sum(state[n] == "skipped" for n in g),
        "opt_outs": sum(n % 200 == 0 and state[n] == "delivered" for n in g),
        "replied": sum(n % 50 == 7 for n in sent), "clicks": sum(n % 20 == 3 for n in g),
        "segments": sum(2 if n % 7 == 0 else 1 for n in sent),
    }


async def measure(url: str, rows: int, settings: Settings) -> list[dict]:
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in seed_statements(rows):
            await conn.execute(text(statement))
    db = Database(engine, owns_engine=False)
    want = expected(rows)
    results = []
    try:
        for label in ("no statistics", "after ANALYZE"):
            if label == "after ANALYZE":
                async with engine.begin() as conn:
                    for table in ("message", "inbound_message", "link_click", "subscriber"):
                        await conn.execute(text(f"ANALYZE {table}"))
            async def report_once():
                async with db.session() as session:
                    campaign = await session.get(Campaign, CAMPAIGN)
                    return await service.campaign_report(session, campaign, settings)

            async def csv_once() -> tuple[int, int]:
                size = lines = 0
                async for chunk in export.outcome_csv(db, CAMPAIGN, SENDER, settings):
                    size += len(chunk)
                    lines += chunk.count("\n")
                return size, lines

            # Timed without tracemalloc (it slows every allocation several times), then measured with it.
            started = time.perf_counter()
            report = await report_once()
            report_s = time.perf_counter() - started
            tracemalloc.start()
            await report_once()
            report_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            got = {"audience": report["audience"], "delivered": report["delivered"], "failed": report["failed"],
                   "sent": report["sent"], "skipped": report["skipped"], "opt_outs": report["opt_outs"],
                   "replied": report["replies"]["replied"], "clicks": report["clicks"]["unique_human"],
                   "segments": report["cost"]["segments_sent"]}
            if got != want:
                raise SystemExit(f"the report disagrees with the seeded mix: {got} != {want}")

            started = time.perf_counter()
            size, lines = await csv_once()
            csv_s = time.perf_counter() - started
            if lines != rows + 1:
                raise SystemExit(f"the CSV has {lines} lines for {rows} messages")
            csv_peak = None
            if label == "no statistics":  # the memory pass is slow (tracemalloc): once per size
                tracemalloc.start()
                await csv_once()
                csv_peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
            results.append({"rows": rows, "when": label, "report_s": report_s, "report_peak_mb": report_peak / 2**20,
                            "points": len(report["timeline"]["points"]), "csv_s": csv_s, "csv_mb": size / 2**20,
                            "csv_peak_mb": None if csv_peak is None else csv_peak / 2**20})
            print(f"  {rows:>9,} {label:<14} report {report_s:7.2f} s, peak {report_peak / 2**20:6.2f} MiB "
                  f"({len(report['timeline']['points'])} minutes) | CSV {csv_s:7.2f} s, {size / 2**20:7.1f} MiB, "
                  f"peak {'—' if csv_peak is None else f'{csv_peak / 2**20:.2f} MiB'}", flush=True)
    finally:
        await engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, action="append", help="messages in the campaign (repeatable)")
    parser.add_argument("--pg-url", default=os.environ.get("TEST_DATABASE_URL",
                                                          "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    sizes = args.rows or [100_000, 1_000_000]
    settings = Settings(_env_file=None, database_url=args.pg_url, provider="sandbox", worker="off")
    all_results = []
    for rows in sizes:
        with scratch_database(args.pg_url, "report", migrate=True) as url:
            all_results += asyncio.run(measure(url, rows, settings))
    print(f"\ncores: {os.cpu_count()}, load: {os.getloadavg()[0]:.1f}")
    print("| messages | statistics | report s | report peak MiB | minutes | CSV s | CSV MiB | CSV peak MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in all_results:
        print(f"| {r['rows']:,} | {r['when']} | {r['report_s']:.2f} | {r['report_peak_mb']:.2f} | {r['points']} | "
              f"{r['csv_s']:.2f} | {r['csv_mb']:.1f} | "
              f"{'—' if r['csv_peak_mb'] is None else format(r['csv_peak_mb'], '.2f')} |")
    print("command:", " ".join(shlex.quote(a) for a in [sys.executable, "-m", "scripts.bench_report", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
