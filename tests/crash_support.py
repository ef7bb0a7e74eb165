"""Helpers for the crash tests: a small Twilio-compatible server in-process, with an outage switch
and Twilio's ``DateSent>`` filter, a committed world seeded through the API, and worker processes.

The server is our own (``scripts/fake_twilio.py`` is a load-test tool that changes under its own
needs); it serves exactly what the worker calls:

* ``POST Messages.json`` creates a message (after ``latency_ms``);
* ``GET Messages.json?To=…&DateSent>=…`` lists the messages to that number created at or after that
  instant (the fake "sends" a message the moment it accepts it), newest first;
* ``GET IncomingPhoneNumbers.json`` answers the owned number (periodic sender re-verification);
* an *outage*: while ``Control.outage`` is set, every create answers 500. Half of them (a seeded RNG
  decides) were really accepted first — the message exists at the provider, only the answer was
  lost — the other half never were. Listing messages answers 500 too, so nothing can be reconciled
  until the outage ends;
* ``Control.posts``: every create attempt seen, as (To, created?) — the ground truth tests count.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
from aiohttp import web
from sqlalchemy import func, select, update

from app.config import Settings
from app.db import Database, migrations
from app.main import create_app
from app.models import Campaign, Message
from app.providers.sandbox import SandboxProvider
from tests.conftest import OWNED
from tests.dispatch_world import build
from tests.factories import make_user

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "crash-test-token"
API = "/2010-04-01/Accounts/{account}"


@dataclass
class Control:
    outage: bool = False
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    posts: list[tuple[str, bool]] = field(default_factory=list)  # (To, created at the provider?)
    lists: int = 0

    def posts_by_to(self) -> Counter[str]:
        return Counter(to for to, _ in self.posts)


def _json(status: int, payload: dict) -> web.Response:
    return web.Response(status=status, body=json.dumps(payload).encode(), content_type="application/json")


def _error(status: int, code: int, message: str) -> web.Response:
    return _json(status, {"code": code, "message": message, "status": status,
                          "more_info": f"https://www.twilio.com/docs/errors/{code}"})


class FakeTwilio:
    """A Twilio-compatible server on 127.0.0.1, inside the test's event loop."""

    def __init__(self, *, latency_ms: float = 0.0, outage: bool = False):
        self.latency = latency_ms / 1000
        self.control = Control(outage=outage)
        self.messages: dict[str, dict] = {}  # sid -> message, in creation order
        self.app = web.Application()
        self.app.router.add_post(API + "/Messages.json", self._create)
        self.app.router.add_get(API + "/Messages.json", self._list)
        self.app.router.add_get(API + "/IncomingPhoneNumbers.json", self._numbers)
        self.runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def created_by_to(self) -> Counter[str]:
        """Messages that really exist at the provider, per recipient."""
        return Counter(message["to"] for message in self.messages.values())

    def sid_by_to(self) -> dict[str, str]:
        return {message["to"]: sid for sid, message in self.messages.items()}

    @staticmethod
    def _authorised(request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        return header == f"Basic {expected}" and request.match_info["account"] == ACCOUNT_SID

    def _accept(self, form: dict[str, str], account: str) -> web.Response:
        sid = "SM" + os.urandom(16).hex()
        now = datetime.now(UTC)
        message = {"sid": sid, "account_sid": account, "to": form.get("To"), "from": form.get("From"),
                   "messaging_service_sid": form.get("MessagingServiceSid"), "body": form.get("Body", ""),
                   "status": "queued", "direction": "outbound-api", "error_code": None,
                   "date_created": format_datetime(now), "date_updated": format_datetime(now),
                   "date_sent": format_datetime(now), "_created": now,
                   "uri": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json"}
        self.messages[sid] = message
        return _json(201, {k: v for k, v in message.items() if not k.startswith("_")})

    async def _create(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 20003, "Authenticate")
        form = dict(parse_qsl((await request.read()).decode(), keep_blank_values=True))
        to = form.get("To", "")
        await asyncio.sleep(self.latency)
        if self.control.outage:
            accepted = self.control.rng.random() < 0.5
            if accepted:  # accepted, then the answer is lost: the dangerous case
                self._accept(form, request.match_info["account"])
            self.control.posts.append((to, accepted))
            return _error(500, 20500, "Internal Server Error")
        self.control.posts.append((to, True))
        return self._accept(form, request.match_info["account"])

    async def _list(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 20003, "Authenticate")
        self.control.lists += 1
        if self.control.outage:
            return _error(500, 20500, "Internal Server Error")
        to, since = request.query.get("To"), request.query.get("DateSent>")
        cutoff = datetime.fromisoformat(since.replace("Z", "+00:00")) if since else None
        found = [m for m in reversed(self.messages.values())
                 if (not to or m["to"] == to) and (cutoff is None or m["_created"].replace(microsecond=0) >= cutoff)]
        size = int(request.query.get("PageSize", "50"))
        return _json(200, {"messages": [{k: v for k, v in m.items() if not k.startswith("_")} for m in found[:size]],
                           "page": 0, "page_size": size, "start": 0, "end": max(0, min(size, len(found)) - 1),
                           "uri": request.path_qs, "first_page_uri": request.path_qs, "next_page_uri": None,
                           "previous_page_uri": None})

    async def _numbers(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 20003, "Authenticate")
        number = {"sid": "PN" + "0" * 32, "account_sid": ACCOUNT_SID, "phone_number": OWNED[0],
                  "friendly_name": OWNED[0], "capabilities": {"sms": True, "mms": True, "voice": True}}
        wanted = request.query.get("PhoneNumber")
        items = [number] if not wanted or wanted == OWNED[0] else []
        return _json(200, {"incoming_phone_numbers": items, "page": 0, "page_size": 50, "start": 0, "end": 0,
                           "uri": request.path_qs, "first_page_uri": request.path_qs, "next_page_uri": None,
                           "previous_page_uri": None})

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
