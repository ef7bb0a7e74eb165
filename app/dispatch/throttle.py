"""Per-sender rate limits that hold across every worker process (docs/design.md, invariant 6).

Design: send *slots*. Each sender has one row, ``sender_rate.next_at``: the first free instant on
its timeline (the database's clock). A worker about to send ``k`` messages from a sender reserves
``k`` consecutive slots ``1/mps`` apart with one atomic upsert … RETURNING; the row lock serialises
reservations, so slots of different workers never overlap, and each message waits for its own
slot. Whatever the number of workers, a sender therefore never sends faster than its MPS; unused
slots (a skipped message) only cost throughput. Workers translate the database clock to their own
with the offset returned by the same statement (SQLite runs one worker and uses the local clock).

Provider throttling (429 / 20429) pushes ``next_at`` further out (``penalise``), slowing every
worker that sends from that sender.

Daily caps (a carrier registration's, e.g. a brand's T-Mobile allowance): ``take_daily`` hands out
what is left of the sender's day under the row lock of ``sender_quota``, so two workers never both
take the last messages; the rest waits for the next carrier day (midnight Pacific time, when
T-Mobile's counter resets). A message counts when it is handed to a send, sent or not: the cap errs
on the side of the carriers.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Float, cast, extract, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.upsert import insert_for
from app.models import SenderQuota, SenderRate

#: A send may leave at most LATE seconds after its slot (later ones are requeued, see send.py), and
#: slots are spaced (1 + LATE + JITTER)/MPS apart: then no one-second window can hold more than MPS
#: sends, whatever the number of workers and however late each one runs within LATE. JITTER covers
#: what happens after the check (the event loop, the socket, the provider's own clock): measured at
#: the local server with two workers, a tighter spacing let a sender past its MPS (docs/benchmarks.md).
LATE = 0.05
JITTER = 0.10
SPACING = 1.0 + LATE + JITTER
#: Reservations start a little ahead of now, so a batch's first slots are not already late.
LEAD = 0.02
#: A single text (an inbox reply, a confirmation) whose slot is further off than this waits in its
#: queue for it rather than in the worker: a campaign holds the sender's next slots.
MAX_SLOT_WAIT = 3.0


def interval(mps: int) -> float:
    return SPACING / max(mps, 1)


def _clock(session: AsyncSession):
    """The clock slots are kept on: the database's (shared by every worker) on PostgreSQL, ours on
    SQLite (one worker)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(extract("epoch", func.clock_timestamp()), Float)
    return literal(time.time(), Float)


def _greatest(session: AsyncSession):
    return func.greatest if session.get_bind().dialect.name == "postgresql" else func.max


async def reserve(session: AsyncSession, sender_id: str, mps: int, count: int) -> tuple[float, float]:
    """Reserve ``count`` slots. Returns (first slot, offset): slot i is at ``first + i*interval(mps)``
    on the database clock; ``local = db_time - offset``. One statement (the sender's row is created on
    first use); commit right after, to keep the row lock short."""
    span = count * interval(mps)
    clock = _clock(session)
    rate = SenderRate.__table__
    statement = (
        insert_for(session.get_bind().dialect.name, SenderRate).values(sender_id=sender_id, next_at=clock + LEAD + span)
        .on_conflict_do_update(index_elements=["sender_id"],
                               set_={"next_at": _greatest(session)(rate.c.next_at, clock + LEAD) + span})
        .returning(rate.c.next_at, clock)
    )
    end, db_now = (await session.execute(statement)).one()
    return float(end) - span, float(db_now) - time.time()


#: After a 429 / 20429 nobody sends from that sender for this long beyond its reserved slots.
PENALTY_SECONDS = 1.0


async def penalise(session: AsyncSession, sender_id: str, seconds: float = PENALTY_SECONDS) -> None:
    """After a 429: nobody sends from this sender for ``seconds`` beyond its reserved slots."""
    await session.execute(
        update(SenderRate).where(SenderRate.sender_id == sender_id)
        .values(next_at=_greatest(session)(SenderRate.next_at, _clock(session)) + seconds)
    )


#: T-Mobile's daily counters reset at midnight Pacific time.
CARRIER_DAY_ZONE = ZoneInfo("America/Los_Angeles")


def carrier_day(now: datetime) -> tuple[str, datetime]:
    """(the carrier day ``now`` falls in, the instant the next one starts). Pure."""
    local = now.astimezone(CARRIER_DAY_ZONE)
    tomorrow = (local + timedelta(days=1)).date()
    start = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=CARRIER_DAY_ZONE)
    return local.date().isoformat(), start.astimezone(now.tzinfo)


async def take_daily(session: AsyncSession, sender_id: str, cap: int, count: int, now: datetime) -> int:
    """Take up to ``count`` of what is left of the sender's ``cap`` today; returns how many were taken.
    The row lock is held to the end of the caller's transaction (the batch's re-check): keep it short."""
    day, _ = carrier_day(now)
    dialect = session.get_bind().dialect.name
    await session.execute(insert_for(dialect, SenderQuota).values(sender_id=sender_id, day=day, used=0)
                          .on_conflict_do_nothing(index_elements=["sender_id", "day"]))
    used = await session.scalar(select(SenderQuota.used).where(SenderQuota.sender_id == sender_id,
                                                               SenderQuota.day == day).with_for_update())
    granted = max(0, min(count, cap - used))
    if granted:
        await session.execute(update(SenderQuota).where(SenderQuota.sender_id == sender_id, SenderQuota.day == day)
                              .values(used=SenderQuota.used + granted))
    return granted
