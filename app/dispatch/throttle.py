"""Per-sender rate limits that hold across every worker process (DESIGN.md invariant 6).

Design: send *slots*. Each sender has one row, ``sender_rate.next_at``: the first free instant on
its timeline (the database's clock). A worker about to send ``k`` messages from a sender reserves
``k`` consecutive slots ``1/mps`` apart with one atomic UPDATE … RETURNING; the row lock serialises
reservations, so slots of different workers never overlap, and each message waits for its own
slot. Whatever the number of workers, a sender therefore never sends faster than its MPS; unused
slots (a skipped message) only cost throughput. Workers translate the database clock to their own
with the offset returned by the same statement (SQLite runs one worker and uses the local clock).

Provider throttling (429 / 20429) pushes ``next_at`` further out (``penalise``), slowing every
worker that sends from that sender.
"""

from __future__ import annotations

import time

from sqlalchemy import func, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.upsert import insert_ignore
from app.models import SenderRate

#: A send may leave at most LATE seconds after its slot (later ones are requeued, see send.py), and
#: slots are spaced (1 + LATE + JITTER)/MPS apart: then no one-second window can hold more than MPS
#: sends, whatever the number of workers and however late each one runs within LATE. JITTER covers
#: what happens after the check (the event loop, the socket, the provider's own clock): measured at
#: the local server with two workers, 1.06 still let a 20-MPS sender reach 21 in one second.
LATE = 0.05
JITTER = 0.10
SPACING = 1.0 + LATE + JITTER
#: Reservations start a little ahead of now, so a batch's first slots are not already late.
LEAD = 0.02


def interval(mps: int) -> float:
    return SPACING / max(mps, 1)


async def _db_now(session: AsyncSession) -> float:
    if session.get_bind().dialect.name == "postgresql":
        return float(await session.scalar(text("SELECT extract(epoch FROM clock_timestamp())")))
    return time.time()


async def reserve(session: AsyncSession, sender_id: str, mps: int, count: int) -> tuple[float, float]:
    """Reserve ``count`` slots. Returns (first slot, offset): slot i is at ``first + i*interval(mps)``
    on the database clock; ``local = db_time - offset``. Commit right after (keep the lock short)."""
    step = interval(mps)
    now = await _db_now(session)
    offset = now - time.time()
    await insert_ignore(session, SenderRate, {"sender_id": sender_id, "next_at": now + LEAD}, conflict=["sender_id"])
    greatest = func.greatest if session.get_bind().dialect.name == "postgresql" else func.max
    end = await session.scalar(
        update(SenderRate)
        .where(SenderRate.sender_id == sender_id)
        .values(next_at=greatest(SenderRate.next_at, now + LEAD) + count * step)
        .returning(SenderRate.next_at)
    )
    return float(end) - count * step, offset


async def penalise(session: AsyncSession, sender_id: str, seconds: float) -> None:
    """After a 429: nobody sends from this sender for ``seconds`` beyond its reserved slots."""
    now = await _db_now(session)
    greatest = func.greatest if session.get_bind().dialect.name == "postgresql" else func.max
    await session.execute(
        update(SenderRate).where(SenderRate.sender_id == sender_id)
        .values(next_at=greatest(SenderRate.next_at, now) + seconds)
    )
