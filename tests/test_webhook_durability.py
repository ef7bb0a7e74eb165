"""Group-committed status callbacks are never answered before they are durable (issue 15).

In process: batches committed several at once (pipelined) still release each callback only after
its own batch's COMMIT, and a batch that fails answers none of its callbacks.

A real ``fineline serve`` process on the run's database takes a flood of signed status callbacks on
many connections and is SIGKILLed in the middle of it, batches in flight. Every callback it answered
2xx must be in the database afterwards (a callback may be stored without its answer, never the
reverse), and each stored one is queued for the applier exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from app.db import Database, migrations
from app.db import session as db_session
from app.webhooks import status
from app.webhooks.ingest import GroupCommit
from tests import crash_support as cs
from tests.twilio_signing import sign

pytestmark = [pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")]
ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log_path.read_text()[-3000:]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"the API did not start: {log_path.read_text()[-3000:]}")


@pytest.fixture
def api(scratch_database_url, tmp_path):
    """``fineline serve`` on a migrated scratch database of the run's kind, no worker."""
    migrations.upgrade(scratch_database_url)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**cs.worker_env(scratch_database_url, "http://127.0.0.1:9"), "FINELINE_PUBLIC_BASE_URL": base}
    log_path = tmp_path / "api.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--no-migrate"],
                                   env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _listening(port, process, log_path)
        yield process, base
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


async def test_sigkilled_api_loses_no_callback_it_answered(api, scratch_database_url):
    api, base = api
    answered: list[str] = []
    failed = 0
    path = "/webhooks/twilio/status"
    stop = asyncio.Event()

    async def post(http: httpx.AsyncClient, lane: int) -> None:
        nonlocal failed
        n = 0
        while not stop.is_set():
            sid = f"SM{lane:04d}{n:028d}"
            n += 1
            params = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": cs.ACCOUNT_SID}
            try:
                response = await http.post(base + path, data=params,
                                           headers={"X-Twilio-Signature": sign(base + path, params,
                                                                               cs.AUTH_TOKEN)})
            except httpx.HTTPError:
                failed += 1
                return  # the server is gone
            if 200 <= response.status_code < 300:
                answered.append(sid)

    async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=64)) as http:
        lanes = [asyncio.create_task(post(http, lane)) for lane in range(48)]
        await cs.wait_for(lambda: _value(len(answered) >= 400), within=60, what="400 callbacks answered")
        os.kill(api.pid, signal.SIGKILL)  # mid-flood: batches gathering and committing
        api.wait(timeout=10)
        stop.set()
        await asyncio.gather(*lanes)
    assert failed > 0, "no request was in flight when the API died"
    db = Database.from_url(scratch_database_url)
    try:
        async with db.session() as session:
            stored = set((await session.scalars(text("SELECT message_sid FROM status_callback"))).all())
            queued = (await session.execute(text(
                "SELECT count(*), count(DISTINCT callback_id) FROM status_callback_pending"))).one()
            in_queue = (await session.scalar(text(
                "SELECT count(*) FROM status_callback s JOIN status_callback_pending p ON p.callback_id = s.id")))
    finally:
        await db.dispose()
    lost = set(answered) - stored
    assert not lost, f"{len(lost)} of {len(answered)} callbacks answered 2xx are not in the database"
    assert len(answered) == len(set(answered))
    assert queued == (len(stored), len(stored)) and in_queue == len(stored)  # each one waits for the applier once


async def _value(value):
    return value


async def test_pipelined_batches_answer_each_callback_only_once_committed(scratch_database_url):
    """Several batches commit at once (``in_flight``), and a callback's ``store`` returns only after
    the COMMIT of its own batch: the moment it returns, another connection already reads the row."""
    await asyncio.to_thread(migrations.upgrade, scratch_database_url)
    db, observer = Database.from_url(scratch_database_url), Database.from_url(scratch_database_url)
    ingest = GroupCommit(db, max_batch=10, in_flight=4)
    unseen: list[str] = []

    async def one(n: int) -> None:
        sid = f"SM{n:032d}"
        await ingest.store(status.parse({"MessageSid": sid, "MessageStatus": "sent"}, None))
        async with observer.session() as session:  # a connection of its own: sees committed rows only
            if not await session.scalar(text("SELECT count(*) FROM status_callback WHERE message_sid = :s"),
                                        {"s": sid}):
                unseen.append(sid)

    try:
        await asyncio.gather(*(one(n) for n in range(300)))
        assert not unseen, f"{len(unseen)} callbacks answered before their batch was committed"
        assert ingest.most_in_flight == 4 and ingest.batches >= 30  # pipelined, in batches of at most 10
        async with observer.session() as session:
            assert await session.scalar(text("SELECT count(*) FROM status_callback_pending")) == 300
        # a replay of every one of them, batches in flight at once: stored once, no deadlock
        await asyncio.gather(*(ingest.store(status.parse({"MessageSid": f"SM{n % 300:032d}", "MessageStatus": "sent"},
                                                         None)) for n in range(600)))
        async with observer.session() as session:
            assert await session.scalar(text("SELECT count(*) FROM status_callback")) == 300
    finally:
        await ingest.aclose()
        await db.dispose()
        await observer.dispose()


async def test_a_failed_batch_answers_none_of_its_callbacks(scratch_database_url):
    await asyncio.to_thread(migrations.upgrade, scratch_database_url)
    db = Database.from_url(scratch_database_url)
    ingest = GroupCommit(db, max_batch=1000, in_flight=2)
    bad = {"p_sid": "SM" + "9" * 32, "p_status": None, "p_code": None, "p_message_id": None}  # NOT NULL
    good = [status.parse({"MessageSid": f"SM{n:032d}", "MessageStatus": "sent"}, None) for n in range(20)]
    try:
        results = await asyncio.gather(*(ingest.store(row) for row in good), ingest.store(bad),
                                       return_exceptions=True)  # arrive together: one batch
        assert all(isinstance(result, Exception) for result in results)  # none answered 2xx ...
        async with db.session() as session:  # ... and none stored
            assert await session.scalar(text("SELECT count(*) FROM status_callback")) == 0
        await asyncio.gather(*(ingest.store(row) for row in good))  # Twilio retries them
        async with db.session() as session:
            assert await session.scalar(text("SELECT count(*) FROM status_callback_pending")) == 20
    finally:
        await ingest.aclose()
        await db.dispose()


async def test_a_batch_is_one_round_trip_that_commits_itself(scratch_database_url, monkeypatch):
    """On PostgreSQL a batch is its own statement's transaction on the driver connection: one call to
    the driver, no BEGIN, no COMMIT, nothing prepared through SQLAlchemy — and the moment it returns
    another connection reads every row. Elsewhere (SQLite) it is a unit of work, equally committed."""
    await asyncio.to_thread(migrations.upgrade, scratch_database_url)
    db, observer = Database.from_url(scratch_database_url), Database.from_url(scratch_database_url)
    rows = [status.parse({"MessageSid": f"SM{n:032d}", "MessageStatus": "delivered"}, None) for n in range(25)]
    calls: list[str] = []
    if db.dialect == "postgresql":
        import asyncpg

        assert await db.fetch_in_one_round_trip("SELECT 1 AS one") == [(1,)]  # the pool's first connection

        for name in ("fetch", "execute", "prepare", "executemany"):
            original = getattr(asyncpg.Connection, name)

            def spy(self, query, *args, _name=name, _original=original, **kwargs):
                calls.append(f"{_name}: {' '.join(str(query).split())[:40]}")
                return _original(self, query, *args, **kwargs)

            monkeypatch.setattr(asyncpg.Connection, name, spy)
    try:
        assert await status.store_committed(db, rows) == 25
        if db.dialect == "postgresql":
            assert len(calls) == 1 and calls[0].startswith("fetch: WITH stored AS (INSERT"), calls
        monkeypatch.undo()
        async with observer.session() as session:  # a connection of its own: committed rows only
            assert await session.scalar(text("SELECT count(*) FROM status_callback_pending")) == 25
        assert await status.store_committed(db, rows) == 0  # a replay stores and queues nothing
        with pytest.raises(RuntimeError, match="unbound PostgreSQL"):
            bound = Database(db.engine, bind=object(), owns_engine=False)  # a test's bound database
            await bound.fetch_in_one_round_trip("SELECT 1")
    finally:
        await db.dispose()
        await observer.dispose()


async def test_a_batch_on_a_cut_connection_fails_once_and_the_next_gets_a_new_one(scratch_database_url, monkeypatch):
    """The group commit's statement goes past SQLAlchemy, which therefore does not see its errors: a
    connection cut under it (a database restart, a killed backend) must not go back into the pool,
    or every later batch would be handed the same dead connection (the pool reuses the last one)."""
    await asyncio.to_thread(migrations.upgrade, scratch_database_url)
    monkeypatch.setattr(db_session, "IDLE_PING_SECONDS", 3600.0)  # no idle ping to replace the dead one first
    db, observer = Database.from_url(scratch_database_url), Database.from_url(scratch_database_url)
    if db.dialect != "postgresql":  # SQLite's batches are units of work: SQLAlchemy handles their errors
        rows = [status.parse({"MessageSid": "SM" + "1" * 32, "MessageStatus": "sent"}, None)]
        assert await status.store_committed(db, rows) == 1
        await db.dispose()
        await observer.dispose()
        return
    try:
        (backend,), = await db.fetch_in_one_round_trip("SELECT pg_backend_pid()")
        async with observer.session() as session:
            assert await session.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        for _ in range(50):  # until the server has closed it
            async with observer.session() as session:
                if not await session.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                                            {"pid": backend}):
                    break
            await asyncio.sleep(0.05)
        rows = [status.parse({"MessageSid": f"SM{n:032d}", "MessageStatus": "sent"}, None) for n in range(3)]
        with pytest.raises(Exception):  # noqa: B017 - whichever error the driver raises for a cut connection
            await status.store_committed(db, rows)
        assert await status.store_committed(db, rows) == 3  # a new connection: Twilio's retry is stored
        (again,), = await db.fetch_in_one_round_trip("SELECT pg_backend_pid()")
        assert again != backend
    finally:
        await db.dispose()
        await observer.dispose()
