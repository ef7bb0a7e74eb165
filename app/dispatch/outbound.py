"""Texts Fineline owes subscribers outside campaigns (double opt-in confirmations), sent by the worker.

Each goes out at most once: a text is claimed (``sending``) and committed before the provider call,
the call runs outside any transaction (SQLite's write lock is never held across the network), and
its outcome is recorded in a short transaction of its own. An answer that leaves the outcome unknown
marks the text ``unknown``; it is never queued again. A number that opted out meanwhile is skipped;
Twilio's 21610 is an opt-out like any other.

The sender's limits hold for these texts as for campaigns and inbox replies (docs/design.md,
invariant 6): each takes a send slot on its sender's timeline (``throttle.reserve``, shared by every
worker) and leaves in it, and counts against the sender's daily cap (``throttle.take_daily``). A
text whose slot is more than ``throttle.MAX_SLOT_WAIT`` off (a campaign holds the next slots) waits
in the queue for it; one over the cap waits for the next carrier day, with the reason in ``error``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audience import consent
from app.db import Database
from app.db.base import utcnow
from app.dispatch import throttle
from app.models import OutboundText, Sender
from app.providers.base import Provider
from app.providers.outcomes import SendResult, attempt
from app.vocab.message import MessageState

#: A text the provider did not accept (throttled, never connected) is tried again after this.
RETRY_AFTER = timedelta(seconds=30)


@dataclass(frozen=True)
class _Due:
    id: str
    to: str
    body: str
    sender: Sender
    slot: float  # time.time() of its send slot


async def _claim(session: AsyncSession, limit: int, now: datetime) -> list[_Due]:
    """The due texts, each with a send slot and its share of the daily cap, marked ``sending``; the
    others that came up stay queued until their slot or the next carrier day (``not_before``)."""
    query = (select(OutboundText)
             .where(OutboundText.state == MessageState.QUEUED,
                    or_(OutboundText.not_before.is_(None), OutboundText.not_before <= now))
             .order_by(OutboundText.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    due = []
    for text in (await session.scalars(query)).all():
        sender = await session.get(Sender, text.sender_id)
        if text.slot_at is None or time.time() - text.slot_at.timestamp() > throttle.LATE:
            first, offset = await throttle.reserve(session, sender.id, sender.mps, 1)
            text.slot_at = datetime.fromtimestamp(first - offset, UTC)
        if text.slot_at.timestamp() - time.time() > throttle.MAX_SLOT_WAIT:  # a campaign holds the next slots
            text.not_before = text.slot_at
            continue
        if sender.daily_cap is not None and not await throttle.take_daily(session, sender.id, sender.daily_cap, 1, now):
            text.not_before, text.slot_at = throttle.carrier_day(now)[1], None
            text.error = (f"the sender's carrier registration allows {sender.daily_cap} messages a day and today's "
                          "are used up: this text waits for the next carrier day (midnight Pacific time)")
            continue
        text.state = MessageState.SENDING
        due.append(_Due(text.id, text.to, text.body, sender, text.slot_at.timestamp()))
    await session.flush()
    return due


async def send_queued(db: Database, provider: Provider, *, limit: int = 50,
                      now: datetime | None = None) -> dict[str, int]:
    counts = {"sent": 0, "skipped": 0, "failed": 0, "retry": 0}
    async with db.unit_of_work() as session:
        claimed = await _claim(session, limit, now or utcnow())
    for text in sorted(claimed, key=lambda due: due.slot):
        async with db.session() as session:
            suppressed = await consent.active_suppression(session, text.to) is not None
        values: dict
        if suppressed:
            values, key = {"state": MessageState.SKIPPED, "error": "the number opted out before the text was sent"}, "skipped"
        else:
            if (wait := text.slot - time.time()) > 0:  # committed as ``sending``: it leaves in its slot
                await asyncio.sleep(wait)
            answer = await attempt(provider, text.sender, to=text.to, body=text.body)
            match answer.result:
                case SendResult.SENT:
                    values, key = {"state": MessageState.SENT, "provider_sid": answer.sent.sid, "sent_at": utcnow(),
                                   "error": None}, "sent"
                case SendResult.SENDER_REFUSED:
                    values, key = {"state": MessageState.SKIPPED, "error": answer.reason}, "skipped"
                case SendResult.RETRY:  # throttled, or never connected: nothing accepted; a new slot later
                    values, key = {"state": MessageState.QUEUED, "not_before": utcnow() + RETRY_AFTER,
                                   "error": f"not sent yet, retrying: {answer.reason}"[:500]}, "retry"
                    if answer.throttled:  # the provider asked the sender to slow down: every sender of it does
                        async with db.unit_of_work() as session:
                            await throttle.penalise(session, text.sender.id)
                case SendResult.UNKNOWN:  # it may have gone out, so never re-sent blindly
                    values, key = {"state": MessageState.UNKNOWN, "error": answer.reason[:500]}, "failed"
                case _:  # a definite refusal; 21610 is an opt-out too (invariant 3)
                    values, key = {"state": MessageState.FAILED, "error": answer.reason[:500]}, "failed"
                    if answer.result == SendResult.OPTED_OUT:
                        async with db.unit_of_work() as session:
                            await consent.opt_out(session, text.to, channel="provider",
                                                  reason="the provider reports the recipient opted out (Twilio 21610)")
        async with db.unit_of_work() as session:
            await session.execute(update(OutboundText).where(OutboundText.id == text.id).values(**values))
        counts[key] += 1
    return counts
