"""The worker process: a thin loop around periodic jobs, each a function tests call directly.

Jobs: the dispatch pump (claim, send, complete), the status-callback applier, scheduled launches,
reconciliation of sends in doubt, sender re-verification, double opt-in confirmation texts, canary
judgement, the ops notifier, queue-depth metric, expired idempotency records, the inbox (due
replies, snoozes ending, replies in doubt).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from datetime import timedelta

import httpx

from app.alerts import notifier
from app.config import Settings
from app.db import Database
from app.db.base import utcnow
from app.dispatch import canary, outbound, reconcile, runner
from app.inbox import delivery as inbox
from app.ops import idempotency
from app.providers import Provider, build_provider
from app.senders import service as senders
from app.webhooks import status

log = logging.getLogger(__name__)


class Periodic:
    """Runs ``job`` at most every ``every`` seconds; a failing job is logged and retried next time."""

    def __init__(self, name: str, every: float, job):
        self.name, self.every, self.job = name, every, job
        self.next_at = 0.0

    async def tick(self) -> None:
        now = time.monotonic()
        if now < self.next_at:
            return
        self.next_at = now + self.every
        try:
            await self.job()
        except Exception:
            log.exception("worker job %s failed; it runs again in %.0fs", self.name, self.every)


async def recheck_senders(db: Database, provider: Provider, settings: Settings) -> dict[str, int]:
    async with db.unit_of_work() as session:
        return await senders.recheck_due(
            session, provider=provider, now=utcnow(), every=timedelta(seconds=settings.sender_recheck_seconds)
        )


async def send_outbound_texts(db: Database, provider: Provider) -> dict[str, int]:
    return await outbound.send_queued(db, provider)


async def purge_idempotency_records(db: Database, settings: Settings) -> int:
    async with db.unit_of_work() as session:
        return await idempotency.purge_expired(
            session, before=utcnow() - timedelta(hours=settings.idempotency_ttl_hours))


async def reconcile_in_doubt(db: Database, provider: Provider, settings: Settings) -> dict[str, int]:
    async with db.unit_of_work() as session:
        return await reconcile.reconcile(session, provider, settings)


async def apply_status_callbacks(db: Database, settings: Settings, stop: asyncio.Event, *, batch: int = 1000,
                                 idle: float = 0.05) -> None:
    """The applier: stored status callbacks applied a batch at a time, each batch one transaction
    (``status.apply_pending``); any number of workers share the queue (SKIP LOCKED)."""
    while not stop.is_set():
        try:
            async with db.unit_of_work() as session:
                applied = await status.apply_pending(session, settings=settings, limit=batch)
        except Exception:
            log.exception("applying status callbacks failed; they stay pending and are retried")
            applied, idle_for = 0, 1.0
        else:
            idle_for = idle
        if applied < batch:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=idle_for)


async def run_worker(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    db: Database | None = None,
    provider: Provider | None = None,
    handle_signals: bool = False,
) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM when the worker owns the process)."""
    stop = stop or asyncio.Event()
    if handle_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    own_db, own_provider = db is None, provider is None
    db = db or Database.from_url(settings.database_url)
    provider = provider or build_provider(settings)
    http = httpx.AsyncClient(timeout=10.0)
    jobs = [
        Periodic("recheck_senders", min(60.0, settings.sender_recheck_seconds),
                 lambda: recheck_senders(db, provider, settings)),
        Periodic("send_outbound_texts", 1.0, lambda: send_outbound_texts(db, provider)),
        Periodic("launch_due", 1.0, lambda: runner.launch_due(db, settings)),
        Periodic("judge_canaries", 5.0, lambda: canary.judge_canaries(db, settings)),
        Periodic("notify_ops", 2.0, lambda: notifier.notify_pending(db, settings, http)),
        Periodic("reconcile", 5.0, lambda: reconcile_in_doubt(db, provider, settings)),
        Periodic("queue_depth", 5.0, lambda: runner.queue_depth(db)),
        Periodic("inbox", 1.0, lambda: inbox.send_due(db, provider, settings)),
        Periodic("purge_idempotency_records", 300.0, lambda: purge_idempotency_records(db, settings)),
    ]
    concurrent = db.dialect != "sqlite"  # SQLite has one writer: one batch at a time
    pump = asyncio.create_task(runner.run_pump(db, provider, settings, stop, concurrent=concurrent))
    applier = asyncio.create_task(apply_status_callbacks(db, settings, stop))
    log.info("worker started (up to %d messages in flight%s)", settings.max_in_flight,
             "" if concurrent else ", one batch at a time")
    try:
        while not stop.is_set():
            for job in jobs:
                await job.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)
    finally:
        stop.set()
        await asyncio.gather(pump, applier, return_exceptions=True)
        await http.aclose()
        if own_provider:
            await provider.aclose()
        if own_db:
            await db.dispose()
        log.info("worker stopped")
