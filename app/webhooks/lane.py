"""The webhooks' database lane: a thread with an event loop and connections of its own, where the
database work of the two Twilio webhooks runs (PostgreSQL; ``app.main`` starts it).

Why a thread. In one event loop every ``await`` waits its turn behind everything else that is ready.
Under a full-speed send the API's loop reads and checks 1,500+ status callbacks a second, in bursts;
a STOP's four or five round trips to the database, and each callback batch's BEGIN, INSERT and
COMMIT, each waited behind a whole burst of them (the loop's lag reached ~90 ms at p99 in
``scripts/bench_under_send``), so a STOP took ~200 ms at p99 and a callback ~500 ms. Here the main
loop only reads requests, checks signatures and answers; the lane stores. A round trip that returns
in the lane waits for the interpreter lock (handed over within ``SWITCH_INTERVAL_S``), never for the
main loop's HTTP parsing.

What runs here:

- ``inbound(params)``: a STOP or any inbound text, in its own unit of work on a pool no callback uses
  (``INBOUND_POOL``), committed before the answer — durable before the 200, as before;
- ``store(row)``: a status callback through the group commit (``ingest.GroupCommit``) on a pool of
  its own (one connection per batch in flight): answered only once its batch is committed.

Nothing else of the API moves: its other requests keep the main loop and its main pool. The lane is
one thread per API process; ``aclose`` cancels what waits, disposes its pools and joins the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from app.config import Settings
from app.db import Database
from app.webhooks import inbound
from app.webhooks.ingest import GroupCommit

T = TypeVar("T")
INBOUND_POOL = {"pool_size": 4, "max_overflow": 4}  # STOPs and other inbound texts
IN_FLIGHT = 4  # callback batches committing at once, one connection each
SWITCH_INTERVAL_S = 0.001  # how soon a thread waiting for the interpreter lock gets it (CPython's default: 5 ms)


class Lane:
    def __init__(self, database_url: str, settings: Settings) -> None:
        self.database_url, self.settings = database_url, settings
        self.loop: asyncio.AbstractEventLoop | None = None
        self.inbound_db: Database | None = None
        self.callbacks_db: Database | None = None
        self.ingest: GroupCommit | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None

    async def start(self) -> None:
        """Starts the thread and returns once its loop runs, its pools and its group commit made there."""
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        caller = asyncio.get_running_loop()

        def announce(error: BaseException | None) -> None:
            if not ready.done():
                ready.set_exception(error) if error else ready.set_result(None)

        self._thread = threading.Thread(target=self._main, args=(caller, announce), name="webhook-lane",
                                        daemon=True)
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        self._thread.start()
        await ready

    def _main(self, caller: asyncio.AbstractEventLoop, announce) -> None:
        loop = _new_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        try:
            loop.run_until_complete(self._serve(caller, announce))
        finally:
            loop.close()

    async def _serve(self, caller: asyncio.AbstractEventLoop, announce) -> None:
        self._stopped = asyncio.Event()
        try:
            self.inbound_db = Database.from_url(self.database_url, **INBOUND_POOL)
            self.callbacks_db = Database.from_url(self.database_url, pool_size=IN_FLIGHT, max_overflow=0)
            self.ingest = GroupCommit(self.callbacks_db, in_flight=IN_FLIGHT)
            self.ingest.bind(asyncio.get_running_loop())
        except BaseException as exc:  # a bad URL: say so to whoever starts the API
            caller.call_soon_threadsafe(announce, exc)
            raise
        caller.call_soon_threadsafe(announce, None)
        try:
            await self._stopped.wait()
        finally:
            await self.ingest.aclose()
            await self.inbound_db.dispose()
            await self.callbacks_db.dispose()

    def _run(self, coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """Runs ``coro`` in the lane; the caller awaits the answer on its own loop."""
        assert self.loop is not None, "the lane is not started"
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    async def inbound(self, params: dict[str, str]) -> inbound.InboundResult:
        return await self._run(self._inbound(params))

    async def _inbound(self, params: dict[str, str]) -> inbound.InboundResult:
        async with self.inbound_db.unit_of_work() as session:
            return await inbound.handle(session, params, self.settings)

    async def store(self, row: dict) -> None:
        """Answered once ``row``'s batch is committed in the lane; the wait is on the caller's loop."""
        await self.ingest.store_across(row)

    @property
    def overloaded(self) -> bool:
        """Too many callbacks wait for their batch (read across threads: a length, never a structure)."""
        return self.ingest is not None and self.ingest.waiting >= self.ingest.max_waiting

    async def aclose(self) -> None:
        if self._thread is None or self.loop is None or self._stopped is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already ended
            self.loop.call_soon_threadsafe(self._stopped.set)
        await asyncio.to_thread(self._thread.join, 30)


def _new_loop() -> asyncio.AbstractEventLoop:
    try:  # the API's own loop is uvloop's (uvicorn's default when installed): the same here
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - platforms without uvloop
        return asyncio.new_event_loop()
