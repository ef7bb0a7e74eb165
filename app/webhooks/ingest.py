"""Group commit for status callbacks: many requests, one INSERT and one COMMIT, then every answer.

Each callback request hands its row to ``GroupCommit.store`` and waits. A committer takes whatever
has gathered (up to ``max_batch``) and stores it with ``status.store_committed`` (on PostgreSQL one
statement inserting the callbacks and their pending rows, its own transaction: one round trip); only
once that has committed are the batch's requests released to answer 204. Up to
``in_flight`` committers run at once, each on its own pooled connection: while one batch waits for its
COMMIT's fsync the next is already being written (PostgreSQL flushes concurrent commits together), so
throughput is not one fsync round trip per batch. A callback that finds no committer starts one at
once (no waiting at a light load); while one runs, what arrives gathers into its next batch, and
another committer starts only when a full batch (``max_batch``) is waiting. Starting one per arrival
instead made batches of one or two callbacks once arrivals spread out, each paying a BEGIN, an
INSERT and a COMMIT (~0.6 ms of the API's CPU through SQLAlchemy, when batches were units of work):
a third of the API's CPU per callback under a full-speed send.

A callback is therefore never answered 2xx before it is durable: a request's future is resolved only
after the COMMIT of the batch holding it returned. If that commit fails every request of the batch
answers 503 and Twilio retries it (the status callback URL asks for retries). Each batch is written
in (MessageSid, status) order, so two batches in flight holding the same replayed callback wait for
each other in one order and never deadlock.

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
    def __init__(self, db: Database, *, max_batch: int = 128, max_waiting: int = 4000, in_flight: int = 4) -> None:
        if in_flight < 1:
            raise ValueError("in_flight must be at least 1")
        self.db, self.max_batch, self.max_waiting, self.in_flight = db, max_batch, max_waiting, in_flight
        self._waiting: list[tuple[dict, asyncio.Future]] = []
        self._tasks: set[asyncio.Task] = set()
        self.batches = 0  # committed so far
        self._committing = 0
        self.most_in_flight = 0  # the most batches between BEGIN and the end of COMMIT at once so far

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def committing(self) -> int:
        return len(self._tasks)

    async def store(self, row: dict) -> None:
        """Returns once ``row`` is committed (or was already stored); raises ``Overloaded``, or the
        database's error when the batch could not be committed."""
        if len(self._waiting) >= self.max_waiting:
            raise Overloaded(f"{len(self._waiting)} status callbacks are waiting to be stored")
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((row, future))
        if not self._tasks or len(self._tasks) < self.in_flight and len(self._waiting) >= self.max_batch:
            self._tasks.add(asyncio.create_task(self._run(), name="status-callback-group-commit"))
        await future

    async def _run(self) -> None:
        """Commits batches while callbacks wait, then ends (``store`` starts another): nothing is left
        running between bursts. No await between the last check and leaving ``_tasks``, so a callback
        arriving meanwhile either is taken by this loop or finds a free slot and starts a committer."""
        try:
            await self._commit_while_waiting()
        finally:
            self._tasks.discard(asyncio.current_task())

    async def _commit_while_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:self.max_batch], self._waiting[self.max_batch:]
            self._committing += 1
            self.most_in_flight = max(self.most_in_flight, self._committing)
            try:
                await status.store_committed(self.db, sorted((row for row, _ in batch), key=_lock_order))
            except Exception as exc:
                log.warning("a batch of %d status callbacks could not be stored: %s", len(batch), exc)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            except asyncio.CancelledError:  # shutting down: not committed, so never answered 2xx
                for _, future in batch:
                    future.cancel()
                raise
            finally:
                self._committing -= 1
            self.batches += 1
            for _, future in batch:  # committed: only now may any of them be answered
                if not future.done():
                    future.set_result(None)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _lock_order(row: dict) -> tuple[str, str]:
    return row["p_sid"], row["p_status"]
