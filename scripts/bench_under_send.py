#!/usr/bin/env python
"""Webhooks under a full-speed send (issue 15): one API process and one worker, in one run.

    .venv/bin/python -m scripts.bench_under_send
    .venv/bin/python -m scripts.bench_under_send --campaigns 12 --recipients 2500 --latency-ms 100 \
        --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

Run by hand, never from the tests; traffic stays on 127.0.0.1. What it does:

1. A scratch database on the server of ``--pg-url`` (migrated; dropped WITH (FORCE) at the end).
2. Seeds set-based: a verified short code (high MPS), ``--campaigns`` approved campaigns with the guard's
   ``pause`` policy, each over its own list of ``--recipients`` opted-in subscribers, and 20 completed
   campaigns at a 0.5% opt-out rate (the guard's baseline).
3. Starts the Twilio double (``scripts/fake_twilio.py``: ``--latency-ms`` per create, then signed
   ``sent`` and ``delivered`` callbacks for every message, ``--callback-delay-ms`` apart, to the
   StatusCallback URL the worker gave, retried as its ``#rc=…&rp=…`` overrides say), ``fineline serve``
   (FINELINE_WORKER=off) and ``fineline worker`` as real processes; launches every campaign.
4. When ``--wave-at`` of the messages are sent, the STOP wave: for every campaign at once, its recipients
   already sent to reply STOP one after another (signed inbound webhooks, attributed to that campaign)
   until the campaign reads ``paused`` in the database; guard latency = from posting the deciding STOP
   to seeing the campaign paused. Every STOP's round trip is timed (the STOP p50/p99 under load).
5. Waits for the send to finish and every callback to be answered and applied, then checks in the
   database: callbacks posted = stored = applied, every message's final state, and each campaign's
   ``delivered_count`` equal to its delivered messages (nothing applied twice).
6. Prints send rate, callback ingest rate (2xx answers per second while the send ran, and stored rows
   per second), the callbacks' p50/p99 as the double saw them, posted/stored/applied, the lag from the
   last send to the last callback applied, STOP p50/p99 under load and guard latency p50/p99, with the
   goals of issue 15 and this command line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from aiohttp import ClientSession, ClientTimeout, TCPConnector
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from twilio.request_validator import RequestValidator

from app.campaigns.audience import materialise
from app.db import Database, migrations
from app.db.admin import on_server
from app.models import Campaign
from scripts.bench_dispatch import free_port, proc_cpu, stop_process

ROOT = Path(__file__).resolve().parent.parent
FINELINE = str(ROOT / ".venv" / "bin" / "fineline")
ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-under-send-auth-token"
SENDER, CODE, MPS = "snd_bench_hi", "12345", 5000
USER_ID = "usr_bench"
BODY = "Fineline bench: the fall sale starts today. Reply STOP to opt out."
GOAL_INGEST_RATIO, GOAL_P99_MS, GOAL_GUARD_S = 2.0, 50.0, 1.0
INBOUND, STATUS = "/webhooks/twilio/inbound", "/webhooks/twilio/status"
_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def pct(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None


def wait_port(proc: subprocess.Popen, port: int, logfile: Path, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}: {logfile.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}: {logfile}")


def phone(g: int) -> str:
    return "+1415" + str(g).zfill(7)


async def seed(url: str, args) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    total = args.campaigns * args.recipients
    statements = [
        f"""INSERT INTO "user" (id, email, name, roles, created_at)
            VALUES ('{USER_ID}', 'bench@example.com', 'Bench', '["marketer"]', now())""",
        f"""INSERT INTO sender (id, kind, address, label, mps, mps_overridden, state, pool, created_at,
                                verified_at, last_checked_at, registered_by_id)
            VALUES ('{SENDER}', 'short_code', '{CODE}', 'Bench', {MPS}, true, 'verified', '[]',
                    now(), now(), now(), '{USER_ID}')""",
        f"""INSERT INTO subscriber (id, phone, first_name, attributes, time_zone, time_zones, created_at)
            SELECT 'sub_' || lpad(g::text, 12, '0'), '+1415' || lpad(g::text, 7, '0'), NULL, '{{}}',
                   'America/New_York', '["America/New_York"]', now() - interval '30 days'
            FROM generate_series(1, {total}) AS g""",
        # the guard's baseline: 20 completed campaigns at 0.5%
        f"""INSERT INTO campaign (id, name, author_id, owner_id, sender_id, body, spike_policy, state, oops_warned,
                                  created_at, updated_at, approved_at, approved_by_id, completed_at,
                                  delivered_count, opt_out_count)
            SELECT 'hst_' || g, 'history ' || g, '{USER_ID}', '{USER_ID}', '{SENDER}', :body, 'pause',
                   'completed', false, now() - interval '20 days', now(), now(), '{USER_ID}',
                   now() - (g || ' days')::interval, 10000, 50
            FROM generate_series(1, 20) AS g""",
    ]
    for c in range(args.campaigns):
        lo, hi = c * args.recipients + 1, (c + 1) * args.recipients
        statements += [
            f"""INSERT INTO subscriber_list (id, name, opt_in, sender_id, created_by_id, created_at)
                VALUES ('lst_{c}', 'list {c}', 'single', '{SENDER}', '{USER_ID}', now())""",
            f"""INSERT INTO consent_event (id, subscriber_id, list_id, kind, channel, evidence, phone, consented_at,
                                           recorded_at)
                SELECT 'cev_' || lpad(g::text, 12, '0'), 'sub_' || lpad(g::text, 12, '0'), 'lst_{c}', 'opt_in',
                       'import', 'bench seed', '+1415' || lpad(g::text, 7, '0'), now() - interval '30 days', now()
                FROM generate_series({lo}, {hi}) AS g""",
            f"""INSERT INTO subscription (id, list_id, subscriber_id, state, consent_event_id, created_at, updated_at)
                SELECT 'sbn_' || lpad(g::text, 12, '0'), 'lst_{c}', 'sub_' || lpad(g::text, 12, '0'), 'subscribed',
                       'cev_' || lpad(g::text, 12, '0'), now() - interval '30 days', now() - interval '30 days'
                FROM generate_series({lo}, {hi}) AS g""",
            f"""INSERT INTO campaign (id, name, author_id, owner_id, sender_id, body, spike_policy, state,
                                      oops_warned, created_at, updated_at, approved_at, approved_by_id)
                VALUES ('cmp_{c}', 'campaign {c}', '{USER_ID}', '{USER_ID}', '{SENDER}', :body, 'pause',
                        'approved', false, now(), now(), now(), '{USER_ID}')""",
            f"INSERT INTO campaign_list (campaign_id, list_id) VALUES ('cmp_{c}', 'lst_{c}')",
        ]
    try:
        async with engine.begin() as conn:
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            for sql in statements:
                await conn.execute(text(sql), {"body": BODY} if ":body" in sql else {})
    finally:
        await engine.dispose()


async def launch_all(db: Database, args) -> int:
    count = 0
    for c in range(args.campaigns):
        async with db.unit_of_work() as session:
            campaign = await session.get(Campaign, f"cmp_{c}")
            count += await materialise(session, campaign, [f"lst_{c}"])
    async with db.unit_of_work() as session:
        await session.execute(text("UPDATE campaign SET state = 'sending', launched_at = now(), updated_at = now() "
                                   "WHERE id LIKE 'cmp\\_%' AND state = 'approved'"))
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM (ANALYZE)"))
    return count


def spawn(cmd: list[str], logfile: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(logfile, "wb") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)


def env_for(url: str, api_base: str, fake_base: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINELINE_")}
    env.update({
        "FINELINE_DATABASE_URL": url, "FINELINE_PROVIDER": "twilio", "FINELINE_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "FINELINE_TWILIO_AUTH_TOKEN": AUTH_TOKEN, "FINELINE_TWILIO_API_BASE": fake_base,
        "FINELINE_PUBLIC_BASE_URL": api_base, "FINELINE_QUIET_HOURS": "off", "FINELINE_WORKER": "off",
        "FINELINE_LOG_LEVEL": "WARNING",
    })
    return env


def fake_stats(base: str) -> dict:
    with _no_proxy.open(base + "/_stats", timeout=30) as resp:
        return json.loads(resp.read())


def fake_summary(base: str) -> dict:
    with _no_proxy.open(base + "/_requests?summary=1", timeout=120) as resp:
        return json.loads(resp.read())


class Wave:
    """Attributed STOPs, campaign by campaign at once, until each campaign is paused."""

    def __init__(self, api: str, db: Database, args) -> None:
        self.api, self.db, self.args = api, db, args
        self.validator = RequestValidator(AUTH_TOKEN)
        self.stop_ms: list[float] = []
        self.guard_s: dict[str, float] = {}
        self.deciding: dict[str, int] = {}
        self.errors: list[str] = []

    async def run(self) -> None:
        async with ClientSession(connector=TCPConnector(limit=0), timeout=ClientTimeout(total=30),
                                 trust_env=False) as http:
            await asyncio.gather(*(self.campaign(http, c) for c in range(self.args.campaigns)))

    async def campaign(self, http: ClientSession, c: int) -> None:
        """The campaign's own wave, once ``--wave-at`` of its messages are sent (the worker sends the
        campaigns partly one after another, so each is hit in the middle of its own send)."""
        campaign_id, last_id, index = f"cmp_{c}", 0, 0
        sent_sql = text("SELECT count(*) FROM message WHERE campaign_id = :c AND sent_at IS NOT NULL")
        next_sql = text("SELECT id, \"to\" FROM message WHERE campaign_id = :c AND id > :after "
                        "AND state IN ('sent', 'delivered') ORDER BY id LIMIT 20")
        while True:
            async with self.db.session() as session:
                if await session.scalar(sent_sql, {"c": campaign_id}) >= self.args.wave_at * self.args.recipients:
                    break
            await asyncio.sleep(0.02)
        while index < self.args.max_stops:
            async with self.db.session() as session:
                batch = (await session.execute(next_sql, {"c": campaign_id, "after": last_id})).all()
            if not batch:
                await asyncio.sleep(0.02)
                continue
            for message_id, number in batch:
                last_id, index = message_id, index + 1
                sid = "SM" + uuid.uuid4().hex
                params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT_SID, "From": number, "To": CODE,
                          "Body": "STOP", "NumMedia": "0", "ApiVersion": "2010-04-01", "SmsStatus": "received"}
                signature = self.validator.compute_signature(self.args.api_base + INBOUND, params)
                started = time.perf_counter()
                async with http.post(self.api + INBOUND, data=params,
                                     headers={"X-Twilio-Signature": signature}) as resp:
                    await resp.read()
                    if resp.status != 200:
                        self.errors.append(f"STOP answered {resp.status}")
                self.stop_ms.append((time.perf_counter() - started) * 1000)
                async with self.db.session() as session:
                    state = await session.scalar(text("SELECT state FROM campaign WHERE id = :c"), {"c": campaign_id})
                if state == "paused":
                    self.guard_s[campaign_id] = time.perf_counter() - started
                    self.deciding[campaign_id] = index
                    return
                if state != "sending":
                    self.errors.append(f"{campaign_id} {state} before the guard paused it ({index} STOPs)")
                    return
        self.errors.append(f"{campaign_id} not paused after {index} STOPs")


async def count(db: Database, sql: str, **params) -> int:
    async with db.session() as session:
        return int(await session.scalar(text(sql), params) or 0)


async def pending_callbacks(db: Database) -> int:
    """Stored callbacks the applier has not applied yet (0 when callbacks are applied as they arrive)."""
    async with db.session() as session:
        exists = await session.scalar(text("SELECT to_regclass('status_callback_pending') IS NOT NULL"))
        if not exists:
            return 0
        return int(await session.scalar(text("SELECT count(*) FROM status_callback_pending")))


async def bench(url: str, args, workdir: Path) -> dict:
    await seed(url, args)
    db = Database.from_url(url)
    api_port, fake_port = free_port(), free_port()
    args.api_base = f"http://127.0.0.1:{api_port}"
    fake_base = f"http://127.0.0.1:{fake_port}"
    procs: list[subprocess.Popen] = []
    result: dict = {}
    try:
        fake_log = workdir / "fake.log"
        cmd = [sys.executable, str(ROOT / "scripts" / "fake_twilio.py"), "--port", str(fake_port), "--latency-ms",
               str(args.latency_ms), "--auth-token", AUTH_TOKEN, "--short-codes", CODE, "--callback-delay-ms",
               str(args.callback_delay_ms), "--callback-concurrency", str(args.callback_concurrency)]
        procs.append(spawn(cmd, fake_log))
        wait_port(procs[-1], fake_port, fake_log)
        env = env_for(url, args.api_base, fake_base)
        api_log = workdir / "api.log"
        api = spawn([FINELINE, "serve", "--port", str(api_port), "--no-migrate"], api_log, env)
        procs.append(api)
        wait_port(api, api_port, api_log)
        total = await launch_all(db, args)
        log(f"{args.campaigns} campaigns, {total} messages materialised; starting the worker")
        worker_log = workdir / "worker.log"
        api_cpu0 = proc_cpu(api.pid)
        worker = spawn([FINELINE, "worker"], worker_log, env)
        procs.append(worker)
        started = time.monotonic()
        log("STOP waves, each campaign's in the middle of its send")
        wave = Wave(args.api_base, db, args)
        await wave.run()
        open_sql = ("SELECT count(*) FROM message m JOIN campaign c ON c.id = m.campaign_id "
                    "WHERE m.state IN ('queued', 'sending') AND c.state = 'sending'")
        while await count(db, open_sql):
            await asyncio.sleep(0.2)
            if time.monotonic() - started > args.limit_s:
                raise RuntimeError("the send did not finish in time")
        log("send finished; waiting for the callbacks")
        sent = await count(db, "SELECT count(*) FROM message WHERE provider_sid IS NOT NULL")
        applied_at = None
        while time.monotonic() - started < args.limit_s:
            stats = await asyncio.to_thread(fake_stats, fake_base)
            cb = stats["callbacks"]
            done_posting = cb.get("scheduled", 0) >= 2 * sent and not stats.get("callback_queue") and \
                cb.get("answered_2xx", 0) + cb.get("failed", 0) >= cb.get("scheduled", 0)
            if done_posting and await pending_callbacks(db) == 0:
                applied_at = time.monotonic()
                break
            await asyncio.sleep(0.05)
        api_cpu = proc_cpu(api.pid) - api_cpu0
        summary = await asyncio.to_thread(fake_summary, fake_base)
        stats = await asyncio.to_thread(fake_stats, fake_base)
        sender = summary["per_sender"].get(CODE, {})
        send_window = sender["last_mono"] - sender["first_mono"]
        stored = await count(db, "SELECT count(*) FROM status_callback")
        pending = await pending_callbacks(db)
        first_cb, last_cb = (await (await db.engine.connect()).execute(text(
            "SELECT extract(epoch FROM min(received_at)), extract(epoch FROM max(received_at)) FROM status_callback"
        ))).one()
        checks = {
            "messages not delivered": await count(db, "SELECT count(*) FROM message WHERE provider_sid IS NOT NULL "
                                                      "AND state <> 'delivered'"),
            "campaigns whose delivered_count is not their delivered messages": await count(db, """
                SELECT count(*) FROM campaign c WHERE c.id LIKE 'cmp\\_%' AND c.delivered_count <> (
                    SELECT count(*) FROM message m WHERE m.campaign_id = c.id AND m.state = 'delivered')"""),
            "delivered callbacks stored for messages not delivered": await count(db, """
                SELECT count(*) FROM status_callback s JOIN message m ON m.provider_sid = s.message_sid
                WHERE s.status = 'delivered' AND m.state <> 'delivered'"""),
        }
        cb = stats["callbacks"]
        result = {
            "messages": total, "sent": sent, "send_window_s": send_window,
            "send_rate": (sender["total"] - 1) / send_window if send_window > 0 else 0.0,
            "posted": cb.get("posted", 0), "retried": cb.get("retried", 0), "answered_2xx": cb.get("answered_2xx", 0),
            "non_2xx": {k: v for k, v in cb.items() if k.startswith("answered_") and k != "answered_2xx"},
            "lost": cb.get("failed", 0), "stored": stored, "applied": stored - pending,
            "ingest_rate": (stored - 1) / (float(last_cb) - float(first_cb)) if last_cb and last_cb > first_cb else 0.0,
            "callback_ms": stats["callback_ms"],
            "lag_s": (applied_at - sender["last_mono"]) if applied_at else None,
            "api_cpu_ms_per_request": api_cpu * 1000 / max(1, cb.get("answered_2xx", 0) + len(wave.stop_ms)),
            "stop_p50_ms": pct(wave.stop_ms, 0.5), "stop_p99_ms": pct(wave.stop_ms, 0.99), "stops": len(wave.stop_ms),
            "guard_p50_s": pct(list(wave.guard_s.values()), 0.5), "guard_p99_s": pct(list(wave.guard_s.values()), 0.99),
            "paused": len(wave.guard_s), "deciding": wave.deciding, "errors": wave.errors, "checks": checks,
            "campaigns": args.campaigns,
        }
    finally:
        for proc in reversed(procs):
            stop_process(proc)
        await db.dispose()
    return result


def report(args, r: dict) -> None:
    ratio = r["ingest_rate"] / r["send_rate"] if r["send_rate"] else 0.0
    lines = [
        "", "Webhooks under a full-speed send (one API process, one worker, PostgreSQL; "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})",
        f"  messages sent            {r['sent']:,} of {r['messages']:,} over {r['campaigns']} campaigns",
        f"  send rate                {r['send_rate']:,.0f} msg/s ({r['send_window_s']:.1f} s window)",
        f"  callback ingest          {r['ingest_rate']:,.0f} stored/s = {ratio:.2f}x the send rate "
        f"(goal >= {GOAL_INGEST_RATIO:.0f}x)",
        f"  callback latency         p50 {r['callback_ms']['p50']} ms, p99 {r['callback_ms']['p99']} ms "
        f"(goal p99 < {GOAL_P99_MS:.0f} ms)",
        f"  callbacks                posted {r['posted']:,}, answered 2xx {r['answered_2xx']:,}, retried "
        f"{r['retried']:,} {r['non_2xx'] or ''}, lost {r['lost']:,}; stored {r['stored']:,}, applied {r['applied']:,}",
        "  lag last send -> last callback applied   "
        + (f"{r['lag_s']:.2f} s" if r["lag_s"] is not None else "NOT REACHED"),
        f"  API CPU                  {r['api_cpu_ms_per_request']:.2f} ms per request",
        f"  STOP under load          p50 {r['stop_p50_ms']:.1f} ms, p99 {r['stop_p99_ms']:.1f} ms over {r['stops']} "
        f"(goal p99 < {GOAL_P99_MS:.0f} ms)",
        f"  guard latency            p50 {r['guard_p50_s']:.3f} s, p99 {r['guard_p99_s']:.3f} s, "
        f"{r['paused']} of {r['campaigns']} campaigns paused (goal p99 <= {GOAL_GUARD_S:.0f} s)",
        f"  deciding STOP per campaign  {sorted(r['deciding'].values())}",
    ]
    problems = [f"{name}: {n}" for name, n in r["checks"].items() if n] + r["errors"]
    if r["posted"] != r["stored"] or r["stored"] != r["applied"] or r["lost"]:
        problems.append("posted, stored and applied differ")
    lines.append("  checks                   " + ("all hold" if not problems else "; ".join(problems)))
    lines.append("  command: " + shlex.join([".venv/bin/python", "-m", "scripts.bench_under_send", *sys.argv[1:]]))
    print("\n".join(lines), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--campaigns", type=int, default=12)
    p.add_argument("--recipients", type=int, default=5000, help="per campaign")
    p.add_argument("--latency-ms", type=float, default=100.0)
    p.add_argument("--callback-delay-ms", type=float, default=300.0)
    p.add_argument("--callback-concurrency", type=int, default=64)
    p.add_argument("--wave-at", type=float, default=0.3,
                   help="share of a campaign's messages sent when its wave starts")
    p.add_argument("--max-stops", type=int, default=200, help="STOPs per campaign at most")
    p.add_argument("--limit-s", type=float, default=600.0)
    args = p.parse_args()
    if make_url(args.pg_url).host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("--pg-url must point at 127.0.0.1")
    name = f"fineline_bench_send_{uuid.uuid4().hex[:10]}"
    url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
    asyncio.run(on_server(args.pg_url, f'CREATE DATABASE "{name}"'))
    try:
        migrations.upgrade(url)
        with tempfile.TemporaryDirectory(prefix="bench_under_send_") as workdir:
            result = asyncio.run(bench(url, args, Path(workdir)))
        report(args, result)
    finally:
        asyncio.run(on_server(args.pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
