#!/usr/bin/env python
"""Load the tracked-link redirect (``GET /<token>``) of a real ``fineline serve`` process on PostgreSQL,
then count in the database how many of the answered clicks were recorded.

    .venv/bin/python -m scripts.bench_redirects
    .venv/bin/python -m scripts.bench_redirects --links 40000 --repeats 40000 --concurrency 64 \
        --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

Run by hand, never from the tests. Traffic goes to 127.0.0.1 only. Steps:

1. CREATE a uniquely named database on the server of ``--pg-url``, migrate it, DROP it WITH (FORCE)
   at the end (also after an error or Ctrl-C).
2. Seed set-based: a user, a verified sender, a list, one 'sending' campaign, ``--links``
   subscribers each with a message delivered an hour ago and one tracked link (90 days to live);
   then ``VACUUM (ANALYZE)``.
3. Start the API as its own process (``fineline serve --no-migrate``, worker off, sandbox provider).
4. A separate load-generator process (``scripts/benchkit.py --loadgen``: aiohttp on uvloop,
   ``--concurrency`` keep-alive connections, redirects not followed) fires two phases:
   - **first clicks**: every link once, in random order: each token is new to the process, so each
     redirect resolves its link in the database (the realistic case: a recipient opens their link);
   - **repeat clicks**: ``--repeats`` requests for random links already opened (served from the
     process's link cache);
   one request in five carries a previewer's user agent (iMessage, WhatsApp, Slack, Facebook,
   Googlebot), the rest an iPhone's Safari. Each phase reports redirects/s, p50/p99/max latency and
   anything that was not a 302; the API process's CPU per redirect is read from /proc.
5. Wait (up to 60 s) until ``link_click`` holds every answered click; report the share recorded and
   that the previewers' clicks were all stored as ``bot`` and the iPhone's as ``human``.
6. Print the table with the goal (>= 2,000 redirects/s per API process, p99 < 50 ms), the core
   count, the load average before and after, and this command line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shlex
import sys
import tempfile
import time
from pathlib import Path

from scripts import benchkit
from scripts.bench_webhooks import start_api, stop_api
from scripts.benchkit import free_port, scratch_database

ROOT = Path(__file__).resolve().parent.parent
GOAL_RPS, GOAL_P99_MS = 2000.0, 50.0
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.1 Mobile/15E148 Safari/604.1")
PREVIEWERS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 "
    "Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
    "WhatsApp/2.23.20.0 A",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
]
SENDER_ID, LIST_ID, CAMPAIGN_ID = "snd_bench_links", "lst_bench_links", "cmp_bench_links"


def token(g: int) -> str:
    return "b" + str(g).rjust(15, "0")  # 16 URL-safe characters, the shape of a real token


def fire(base: str, clicks: list[list[str]], concurrency: int, api_pid: int, workdir: Path, name: str) -> dict:
    """One phase of clicks ([token, user agent]) from the load generator; redirects not followed."""
    requests = [["GET", f"/{tok}", None, {"User-Agent": agent}] for tok, agent in clicks]
    result = benchkit.fire(base, requests, concurrency=concurrency, expect=302, api_pid=api_pid, workdir=workdir,
                           name=name)
    return {**result, "redirects": result["statuses"].get("302", 0)}


# ---------------------------------------------------------------------------------------------
# the seed
# ---------------------------------------------------------------------------------------------

async def seed(url: str, links: int) -> None:
    from sqlalchemy import text

    from app.db import Database
    from app.users import service

    db = Database.from_url(url)
    try:
        async with db.unit_of_work() as session:
            user, _, _ = await service.create_user(session, email="bench-links@example.com", name="Bench",
                                                   roles=["admin", "marketer"], actor=None)
            user_id = user.id
        sub_id = "'sub_ln_' || lpad(g::text, 8, '0')"
        statements = [
            f"""INSERT INTO sender (id, kind, address, label, mps, mps_overridden, state, pool, created_at,
                                    verified_at, registered_by_id)
                VALUES ('{SENDER_ID}', 'long_code', '+15005550006', 'Bench', 100, false, 'verified', '[]', now(),
                        now(), '{user_id}')""",
            f"""INSERT INTO subscriber_list (id, name, opt_in, sender_id, created_by_id, created_at)
                VALUES ('{LIST_ID}', 'Bench', 'single', '{SENDER_ID}', '{user_id}', now())""",
            f"""INSERT INTO campaign (id, name, author_id, owner_id, sender_id, body, spike_policy, state, oops_warned,
                                      created_at, updated_at, launched_at, delivered_count, opt_out_count,
                                      failed_count, paused_by_guard)
                VALUES ('{CAMPAIGN_ID}', 'Bench links', '{user_id}', '{user_id}', '{SENDER_ID}',
                        'Acme: https://shop.acme.com/fall Reply STOP to end', 'pause', 'sending', false,
                        now() - interval '1 day', now(), now() - interval '2 hours', {links}, 0, 0, false)""",
            f"""INSERT INTO subscriber (id, phone, attributes, time_zone, time_zones, created_at)
                SELECT {sub_id}, '+1206' || lpad(g::text, 7, '0'), '{{}}', 'America/Los_Angeles',
                       '["America/Los_Angeles"]', now() - interval '30 days' FROM generate_series(1, {links}) AS g""",
            f"""INSERT INTO message (id, campaign_id, subscriber_id, "to", state, provider_sid, attempts, held,
                                     created_at, claimed_at, sent_at, delivered_at, updated_at)
                SELECT g, '{CAMPAIGN_ID}', {sub_id}, '+1206' || lpad(g::text, 7, '0'), 'delivered',
                       'SML' || lpad(g::text, 31, '0'), 1, false, now() - interval '2 hours',
                       now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour', now()
                FROM generate_series(1, {links}) AS g""",
            f"""INSERT INTO link (token, campaign_id, message_id, subscriber_id, position, destination, created_at,
                                  expires_at)
                SELECT 'b' || lpad(g::text, 15, '0'), '{CAMPAIGN_ID}', g, {sub_id}, 0,
                       'https://shop.acme.com/fall?utm_source=sms&r=' || g, now() - interval '1 hour',
                       now() + interval '90 days'
                FROM generate_series(1, {links}) AS g""",
        ]
        async with db.engine.begin() as conn:
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            for sql in statements:
                await conn.execute(text(sql))
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM (ANALYZE)"))
    finally:
        await db.dispose()


async def clicks_recorded(url: str, expected: int) -> dict[str, int]:
    from sqlalchemy import text

    from app.db.session import make_engine

    engine = make_engine(url)
    try:
        deadline = time.monotonic() + 60.0
        while True:
            async with engine.connect() as conn:
                rows = (await conn.execute(text("SELECT kind, coalesce(bot_reason, ''), count(*) FROM link_click "
                                                "GROUP BY kind, bot_reason"))).all()
            counts = {f"{kind}:{reason}" if reason else kind: n for kind, reason, n in rows}
            if sum(counts.values()) >= expected or time.monotonic() > deadline:
                return counts
            await asyncio.sleep(0.5)
    finally:
        await engine.dispose()


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def bench(url: str, args, workdir: Path) -> None:
    asyncio.run(seed(url, args.links))
    rng = random.Random(7)

    def agent() -> str:
        return rng.choice(PREVIEWERS) if rng.random() < 0.2 else IPHONE

    first = [[token(g), agent()] for g in rng.sample(range(1, args.links + 1), args.links)]
    repeats = [[token(rng.randint(1, args.links)), agent()] for _ in range(args.repeats)]
    port = free_port()
    load_before = loadavg()
    api, command = start_api(url, port, workdir / "api.log", None)
    results = []
    try:
        base = f"http://127.0.0.1:{port}"
        results.append(fire(base, first, args.concurrency, api.pid, workdir, "first clicks (database lookup)"))
        if repeats:
            results.append(fire(base, repeats, args.concurrency, api.pid, workdir, "repeat clicks (cached)"))
        answered = sum(r["redirects"] for r in results)
        counts = asyncio.run(clicks_recorded(url, answered))
    finally:
        stop_api(api)
    load_after = loadavg()
    bots_sent = sum(1 for _, ua in first + repeats if ua != IPHONE)
    print()
    print(f"{'phase':34} {'requests':>8} {'redir/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
          f"{'non-302':>7} {'API ms/req':>10} {'API core':>8} {'busy':>5}")
    for r in results:
        print(f"{r['name']:34} {r['sent']:>8} {r['rps']:>8.0f} {r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} "
              f"{r['max_ms']:>7.1f} {r['sent'] - r['redirects']:>7} {r['api_cpu_ms_per_req']:>10.3f} "
              f"{r['api_core_share']:>8.2f} {r['machine_busy']:>5.0%}")
    recorded = sum(counts.values())
    humans = counts.get("human", 0)
    print(f"\nclicks answered {answered:,}, recorded {recorded:,} ({recorded / max(answered, 1):.1%}); "
          f"human {humans:,} (iPhone requests {answered - bots_sent:,}), bot {recorded - humans:,} "
          f"(previewer requests {bots_sent:,}): {json.dumps(counts, sort_keys=True)}")
    head = results[0]
    print(f"goal: >= {GOAL_RPS:,.0f} redirects/s per API process with p99 < {GOAL_P99_MS:.0f} ms -> first clicks "
          f"{head['rps']:,.0f}/s ({head['rps'] / GOAL_RPS:.2f}x the goal), p99 {head['p99_ms']:.1f} ms")
    print(f"cores {os.cpu_count()}, load average before {load_before}, after {load_after}")
    print(f"API: {shlex.join(command)}")
    print(f"command: {shlex.join([sys.executable, '-m', 'scripts.bench_redirects', *sys.argv[1:]])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
                        help="a database on the server; a scratch database is created beside it")
    parser.add_argument("--links", type=int, default=40_000, help="links (and first clicks, one each)")
    parser.add_argument("--repeats", type=int, default=40_000, help="clicks on links already opened")
    parser.add_argument("--concurrency", type=int, default=64, help="connections of the load generator")
    args = parser.parse_args()
    if not 1 <= args.links <= 2_000_000 or args.repeats < 0 or not 1 <= args.concurrency <= 1024:
        parser.error("a count is out of range")
    with scratch_database(args.pg_url, "links", migrate=True) as url, \
            tempfile.TemporaryDirectory(prefix="bench_links_") as tmp:
        workdir = Path(tmp)
        try:
            bench(url, args, workdir)
        except BaseException:
            log = workdir / "api.log"
            if log.exists():
                print("--- API log (tail) ---\n" + log.read_text(errors="replace")[-3000:])
            raise


if __name__ == "__main__":
    main()
