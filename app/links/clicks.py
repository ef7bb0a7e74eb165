"""Clicks are written behind the redirect, never in front of it.

The redirect hands each click to ``ClickRecorder.add``, which only appends it to an in-process buffer
and returns: the ``302`` never waits for the database. One task writes whatever has gathered (up
to ``FINELINE_LINK_CLICK_BATCH`` per transaction: one lookup of the messages' delivery times, one
multi-row INSERT) and ends when the buffer is empty; while a batch is being written the next gathers,
so the batch grows with the load. A batch the database refuses is tried again after a pause, three
times in all, then dropped and counted; beyond ``FINELINE_LINK_CLICK_BUFFER`` clicks waiting a new
one is dropped and counted (``fineline_link_clicks_total{outcome="dropped"}``). A process that dies
loses the clicks it had not written yet (at most one batch's worth of seconds): clicks are analytics,
the redirect is what the recipient sees.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from app.db import Database
from app.links import service
from app.ops import metrics

log = logging.getLogger(__name__)

ATTEMPTS = 3
RETRY_PAUSE = 1.0
CLOSE_SECONDS = 5.0


class ClickRecorder:
    def __init__(self, db: Database, *, batch: int = 500, buffer: int = 50_000, preview_seconds: float = 10.0,
                 retry_pause: float = RETRY_PAUSE) -> None:
        self.db, self.batch, self.buffer, self.preview_seconds = db, batch, buffer, preview_seconds
        self.retry_pause = retry_pause
        self._pending: deque[service.PendingClick] = deque()
        self._task: asyncio.Task | None = None
        self.recorded = 0
        self.dropped = 0

    @property
    def waiting(self) -> int:
        return len(self._pending)

    def add(self, click: service.PendingClick) -> None:
        """Never blocks, never raises for the database: the click is written later, or dropped and counted."""
        if len(self._pending) >= self.buffer:
            self.dropped += 1
            metrics.LINK_CLICKS.labels("dropped").inc()
            return
        self._pending.append(click)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="link-click-writer")

    async def _run(self) -> None:
        """Writes batches while clicks wait, then ends (``add`` starts it again). No await between the
        last check and the end, so no click is stranded."""
        while self._pending:
            batch = [self._pending.popleft() for _ in range(min(self.batch, len(self._pending)))]
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    async with self.db.unit_of_work() as session:
                        counts = await service.store_clicks(session, batch, preview_seconds=self.preview_seconds)
                except Exception as exc:
                    if attempt == ATTEMPTS:
                        log.warning("dropped %d link clicks the database refused %d times: %s", len(batch),
                                    ATTEMPTS, exc)
                        self.dropped += len(batch)
                        metrics.LINK_CLICKS.labels("dropped").inc(len(batch))
                    else:
                        await asyncio.sleep(self.retry_pause)
                    continue
                self.recorded += len(batch)
                for kind, count in counts.items():
                    metrics.LINK_CLICKS.labels(kind).inc(count)
                break

    async def flush(self) -> None:
        """Wait until every click handed in so far is written (or dropped)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def aclose(self) -> None:
        """Write what is waiting (for at most ``CLOSE_SECONDS``), then stop."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self.flush(), CLOSE_SECONDS)
        except TimeoutError:
            log.warning("%d link clicks were not written before shutdown", len(self._pending))
        if not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
