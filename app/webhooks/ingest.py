"""Group commit for status callbacks: many requests, one INSERT and one COMMIT, then every answer.

Each callback request hands its row to ``GroupCommit.store`` and waits. One task takes whatever has
gathered (up to ``max_batch``), stores it with ``status.store`` (one multi-row INSERT and the pending
rows) and commits; only then are the waiting requests released to answer 204. While a commit is in
flight the next batch gathers, so the batch grows with the load and the cost per callback falls.
A callback is therefore never answered 2xx before it is durable; if the commit fails every request
of the batch answers 503 and Twilio retries it (the status callback URL asks for retries).

Beyond ``max_waiting`` callbacks waiting, a new one is refused at once (``Overloaded``, answered 503
with Retry-After) rather than queued until Twilio's 15 s timeout. STOPs never come here: inbound
messages keep their own synchronous path and their own connections.
"""

from __future__ import annotations

import asyncio
import logging

from app.db import Database
from app.webhooks import status

log = logging.getLogger(__name__)


class Overloaded(Exception):
    """Too many callbacks are waiting for their commit: answer 503 now, Twilio retries later."""


class GroupCommit:
    def __init__(self, db: Database, *, max_batch: int = 1000, max_waiting: int = 4000) -> None:
        self.db, self.max_batch, self.max_waiting = db, max_batch, max_waiting
        self._waiting: list[tuple[dict, asyncio.Future]] = []
        self._task: asyncio.Task | None = None

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def store(self, row: dict) -> None:
        """Returns once ``row`` is committed (or was already stored); raises ``Overloaded``, or the
        database's error when the batch could not be committed."""
        if len(self._waiting) >= self.max_waiting:
            raise Overloaded(f"{len(self._waiting)} status callbacks are waiting to be stored")
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((row, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="status-callback-group-commit")
        await future

    async def _run(self) -> None:
        """Commits batches while callbacks wait, then ends (``store`` starts it again): nothing is left
        running between bursts. No await between the last check and the end, so none is stranded."""
        while self._waiting:
            batch, self._waiting = self._waiting[:self.max_batch], self._waiting[self.max_batch:]
            try:
                async with self.db.unit_of_work() as session:
                    await status.store(session, [row for row, _ in batch])
            except Exception as exc:
                log.warning("a batch of %d status callbacks could not be stored: %s", len(batch), exc)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
