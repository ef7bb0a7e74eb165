"""Helpers for the crash tests: the Twilio double in-process (with its outage switch and Twilio's
``DateSent>`` filter), a committed world seeded through the API, and worker processes.

The double is the one the benchmarks run too (``scripts/fake_twilio.py``): it serves what the
worker calls — creates (after ``latency_ms``), listings by ``To`` and ``DateSent>`` (newest first),
the owned number for the periodic sender re-verification — and, while ``control.outage`` is set,
answers every create 500 (half of them after really accepting it) and every listing 500.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from aiohttp import web
from sqlalchemy import func, select, update

from app.config import Settings
from app.db import Database, migrations
from app.main import create_app
from app.models import Campaign, Message
from app.providers.sandbox import SandboxProvider
from scripts import fake_twilio
from tests.conftest import OWNED
from tests.dispatch_world import build
from tests.factories import make_user

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "crash-test-token"
API = "/2010-04-01/Accounts/{account}"


class FakeTwilio:
    """The project's one Twilio double (``scripts/fake_twilio.py``) on 127.0.0.1, inside the test's
    event loop: the owned number, no status callbacks, messages "sent" the moment they are accepted
    (so reconciliation finds them by ``DateSent``). ``control`` is its state: the ``outage`` switch,
    ``posts`` (every create attempt: To, created?), ``lists``."""

    def __init__(self, *, latency_ms: float = 0.0, outage: bool = False):
        self.app = fake_twilio.build_app(fake_twilio.FakeTwilioConfig(
            latency_ms=latency_ms, owned=[OWNED[0]], auth_token=AUTH_TOKEN, callback_delay_ms=0.0, seed=7))
        self.control = self.app[fake_twilio.STATE_KEY]
        self.control.outage = outage
        self.runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def created_by_to(self) -> Counter[str]:
        return self.control.created_by_to()

    def sid_by_to(self) -> dict[str, str]:
        return self.control.sid_by_to()

    async def __aenter__(self) -> FakeTwilio:
        self.runner = web.AppRunner(self.app, access_log=None, handler_cancellation=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()


# --------------------------------------------------------------------------------------------------
# A committed world, seeded through the API
# --------------------------------------------------------------------------------------------------


def phones(n: int) -> list[str]:
    return [f"+1415555{i:04d}" for i in range(n)]


async def seed_world(url: str, n: int, *, mps: int) -> dict:
    """Migrate ``url`` and build a launched campaign to ``n`` subscribers, committed."""
    await asyncio.to_thread(migrations.upgrade, url)
    settings = Settings(database_url=url, provider="sandbox", worker="off", quiet_hours="off",
                        public_base_url="https://fineline.test", twilio_auth_token=AUTH_TOKEN,
                        twilio_account_sid=ACCOUNT_SID, _env_file=None)
    db = Database.from_url(url)
    provider = SandboxProvider(OWNED, account_sid=settings.account_sid, auth_token=settings.auth_token,
                               callbacks=False)
    try:
        async with db.unit_of_work() as session:
            admin = await make_user(session, roles=["admin"], email="admin@example.com")
            marketer = await make_user(session, roles=["marketer"], email="marketer@example.com")
            reviewer = await make_user(session, roles=["reviewer"], email="reviewer@example.com")
        app = create_app(settings, database=db, provider=provider)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fineline.test") as client:
            return await build(client, admin, marketer, reviewer, phones=phones(n), mps=mps)
    finally:
        await db.dispose()


# --------------------------------------------------------------------------------------------------
# Worker processes
# --------------------------------------------------------------------------------------------------


#: The worker's lease: the configured minimum, which outlasts LEASE_MARGIN (35 s, longer than the
#: longest provider call) with time to send: see test_shortest_allowed_lease_still_sends.
LEASE_SECONDS = 40


def worker_env(url: str, api_base: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINELINE_")}
    env.update(
        FINELINE_DATABASE_URL=url,
        FINELINE_PROVIDER="twilio",
        FINELINE_TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        FINELINE_TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        FINELINE_TWILIO_API_BASE=api_base,
        FINELINE_QUIET_HOURS="off",
        FINELINE_WORKER="off",
        FINELINE_LEASE_SECONDS=str(LEASE_SECONDS),
        FINELINE_UNKNOWN_GRACE_SECONDS="0",
        FINELINE_LOG_LEVEL="WARNING",
    )
    return env


class Worker:
    """A ``python -m app.cli worker`` process; its output goes to a file the test can show."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], env=env, cwd=ROOT,
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no last commit, sockets dropped by the kernel."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        if not self.log.closed:
            self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


async def wait_for(predicate, *, within: float, every: float = 0.05, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {within:.0f}s waiting for {what}")


# --------------------------------------------------------------------------------------------------
# Reading the outcome
# --------------------------------------------------------------------------------------------------


async def message_states(db: Database, campaign_id: str) -> Counter[str]:
    async with db.session() as session:
        rows = await session.execute(select(Message.state, func.count()).where(Message.campaign_id == campaign_id)
                                     .group_by(Message.state))
        return Counter({state: count for state, count in rows})


async def campaign_state(db: Database, campaign_id: str) -> str:
    async with db.session() as session:
        return await session.scalar(select(Campaign.state).where(Campaign.id == campaign_id))


async def messages(db: Database, campaign_id: str) -> list[Message]:
    async with db.session() as session:
        return list((await session.scalars(select(Message).where(Message.campaign_id == campaign_id)
                                           .order_by(Message.id))).all())


async def expire_leases(db: Database) -> int:
    """Fast-forward the clock for claims of a *dead* worker: their leases are over."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    async with db.unit_of_work() as session:
        result = await session.execute(update(Message).where(Message.state.in_(("sending", "unknown")))
                                       .values(lease_expires_at=past))
        return result.rowcount
