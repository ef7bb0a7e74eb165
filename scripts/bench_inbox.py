#!/usr/bin/env python
"""Time the inbox's open-queue listing over 100,000 conversations on PostgreSQL (goal: p99 ≤ 50 ms).

    .venv/bin/python scripts/bench_inbox.py
    .venv/bin/python scripts/bench_inbox.py --conversations 100000 --requests 500 \
        --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

Run by hand, never from the tests. Steps:

1. a fresh, uniquely named database on the server (dropped WITH (FORCE) afterwards), migrated;
2. ``--conversations`` conversations on one verified sender, written with one multi-row INSERT per
   5,000: 30% open, 10% snoozed, 60% resolved; three in four assigned among 50 agents, the rest in
   the unassigned queue; activity spread over 90 days; then ANALYZE;
3. ``--requests`` requests of ``GET /v1/me`` (the floor every API request pays), then as many each, through the whole API in process (FastAPI over httpx's ASGI
   transport: the key checked, the query, the JSON), of: the open queue's first page
   (``GET /v1/conversations?state=open&limit=50``), a page further on (its cursor), the unassigned
   queue (``assignee=none``), and one agent's open conversations (``assignee=me``) — each timed
   from request to parsed answer; p50, p99 and max per kind; then the open queue's query alone
   (the service function on a session, no HTTP);
4. the plan of the open queue's first page (``EXPLAIN ANALYZE``), to show the index serves it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from app.config import Settings  # noqa: E402
from app.db import Database  # noqa: E402
from app.db.base import new_id  # noqa: E402
from app.inbox import service  # noqa: E402
from app.main import create_app  # noqa: E402
from app.models import Conversation, Sender  # noqa: E402
from app.users import service as users  # noqa: E402
from scripts.benchkit import scratch_database  # noqa: E402

AGENTS = 50


async def _fill(db: Database, count: int, rng: random.Random, analyse: bool = True) -> tuple[str, list[tuple[str, str]]]:
    """The admin's key, and (id, key) of the agents; ``count`` conversations."""
    async with db.unit_of_work() as session:
        _, _, admin_key = await users.create_user(session, email="admin@example.com", name="Admin",
                                                  roles=["admin"], actor=None)
        agents = []
        for index in range(AGENTS):
            user, _, key = await users.create_user(session, email=f"agent{index}@example.com", name=f"Agent {index}",
                                                   roles=["agent"], actor=None)
            agents.append((user.id, key))
        sender = Sender(kind="long_code", address="+15005550006", label="Main", mps=1, state="verified", pool=[])
        session.add(sender)
        await session.flush()
        sender_id = sender.id
    now = datetime.now(UTC)
    batch: list[dict] = []
    for index in range(count):
        roll = rng.random()
        state = "open" if roll < 0.3 else "snoozed" if roll < 0.4 else "resolved"
        at = now - timedelta(seconds=rng.uniform(0, 90 * 86400))
        assignee = agents[rng.randrange(AGENTS)][0] if rng.random() < 0.75 else None
        batch.append({"id": new_id("cnv"), "sender_id": sender_id, "phone": f"+1415{index:07d}", "state": state,
                      "assignee_id": assignee, "opened_at": at, "last_activity_at": at, "created_at": at,
                      "updated_at": at, "last_inbound_at": at,
                      "snoozed_until": now + timedelta(days=1) if state == "snoozed" else None,
                      "resolved_at": at if state == "resolved" else None,
                      "waiting_since": at if state == "open" else None})
        if len(batch) == 5000 or index == count - 1:
            async with db.unit_of_work() as session:
                await session.execute(insert(Conversation), batch)
            batch = []
    if analyse:
        async with db.engine.connect() as connection:
            await connection.execute(text("ANALYZE conversation"))
            await connection.commit()
    return admin_key, agents


async def _user(db: Database, user_id: str):
    async with db.session() as session:
        return await users.get_user(session, user_id)


def _report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
    print(f"{name:<34} n={len(samples):<5} p50 {statistics.median(ordered) * 1000:6.2f} ms   "
          f"p99 {p99 * 1000:6.2f} ms   max {ordered[-1] * 1000:6.2f} ms")


async def _run(url: str, count: int, requests: int, analyse: bool = True) -> None:
    db = Database.from_url(url)
    rng = random.Random(14)
    try:
        started = time.perf_counter()
        _, agents = await _fill(db, count, rng, analyse)
        print(f"{count:,} conversations written{' and analysed' if analyse else ' (no ANALYZE)'} in "
              f"{time.perf_counter() - started:.1f} s")
        settings = Settings(database_url=url, provider="sandbox", worker="off", _env_file=None)
        app = create_app(settings, database=db)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            agent_id, agent_key = agents[0]
            headers = {"Authorization": f"Bearer {agent_key}"}
            first = (await client.get("/v1/conversations", params={"state": "open", "limit": 50},
                                      headers=headers)).json()
            assert len(first["items"]) == 50, first
            later = first
            for _ in range(20):  # a page some way into the queue
                later = (await client.get("/v1/conversations", params={"state": "open", "limit": 50,
                                                                         "cursor": later["next_cursor"]},
                                          headers=headers)).json()
            kinds = {
                "open queue, first page": {"state": "open", "limit": 50},
                "open queue, page 21 (keyset)": {"state": "open", "limit": 50, "cursor": later["next_cursor"]},
                "unassigned open (assignee=none)": {"state": "open", "assignee": "none", "limit": 50},
                "my open (assignee=me)": {"state": "open", "assignee": "me", "limit": 50},
            }
            floor = []
            for _ in range(requests):
                began = time.perf_counter()
                assert (await client.get("/v1/me", headers=headers)).status_code == 200
                floor.append(time.perf_counter() - began)
            _report("GET /v1/me (the API's floor)", floor)
            for name, params in kinds.items():
                for _ in range(20):  # warm the connection pool and prepared statements
                    await client.get("/v1/conversations", params=params, headers=headers)
                samples = []
                for _ in range(requests):
                    began = time.perf_counter()
                    response = await client.get("/v1/conversations", params=params, headers=headers)
                    response.json()
                    samples.append(time.perf_counter() - began)
                    assert response.status_code == 200
                _report(name, samples)
        me = await _user(db, agent_id)
        query_only = []
        for _ in range(requests):
            async with db.session() as session:
                began = time.perf_counter()
                await service.list_conversations(session, state="open", assignee=None, me=me, limit=50, cursor=None)
                query_only.append(time.perf_counter() - began)
        _report("open queue, the query alone", query_only)
        async with db.engine.connect() as connection:
            plan = await connection.execute(text(
                "EXPLAIN ANALYZE SELECT * FROM conversation WHERE state = 'open' "
                "ORDER BY last_activity_at DESC, id DESC LIMIT 51"))
            print("\nplan of the open queue's first page:")
            for (line,) in plan:
                print("   ", line)
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--no-analyze", action="store_true",
                        help="leave the table without statistics, as right after the rows arrived")
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    with scratch_database(args.pg_url, "inbox", migrate=True) as url:
        asyncio.run(_run(url, args.conversations, args.requests, not args.no_analyze))


if __name__ == "__main__":
    main()
