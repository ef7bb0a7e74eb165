"""The worker process: a thin loop around periodic jobs. Later issues add dispatch, reconciliation,
sender re-verification and the spike guard's notifier; each job is a function tests call directly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from app.config import Settings
from app.db import Database

log = logging.getLogger(__name__)


async def run_worker(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    db: Database | None = None,
    handle_signals: bool = False,
) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM when the worker owns the process)."""
    stop = stop or asyncio.Event()
    if handle_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    own_db = db is None
    db = db or Database.from_url(settings.database_url)
    log.info("worker started")
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
    finally:
        if own_db:
            await db.dispose()
        log.info("worker stopped")
