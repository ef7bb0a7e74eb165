"""Texts Fineline owes subscribers outside campaigns (double opt-in confirmations), sent by the worker.

Each goes out at most once: a text is claimed (``sending``) and committed before the provider call,
the call runs outside any transaction (SQLite's write lock is never held across the network), and
its outcome is recorded in a short transaction of its own. An answer that leaves the outcome unknown
marks the text ``unknown``; it is never queued again. A number that opted out meanwhile is skipped;
Twilio's 21610 is an opt-out like any other.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audience import consent
from app.db import Database
from app.db.base import utcnow
from app.models import OutboundText, Sender
from app.providers.base import Provider
from app.providers.outcomes import SendResult, attempt
from app.vocab.message import MessageState


async def _claim(session: AsyncSession, limit: int) -> list[OutboundText]:
    query = select(OutboundText).where(OutboundText.state == MessageState.QUEUED).order_by(OutboundText.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    texts = list((await session.scalars(query)).all())
    for text in texts:
        text.state = MessageState.SENDING
    await session.flush()
    return texts


async def send_queued(db: Database, provider: Provider, *, limit: int = 50) -> dict[str, int]:
    counts = {"sent": 0, "skipped": 0, "failed": 0, "retry": 0}
    async with db.unit_of_work() as session:
        claimed = [(t.id, t.to, t.body, t.sender_id) for t in await _claim(session, limit)]
    for text_id, to, body, sender_id in claimed:
        async with db.session() as session:
            suppressed = await consent.active_suppression(session, to) is not None
            sender = await session.get(Sender, sender_id)
        values: dict
        if suppressed:
            values, key = {"state": MessageState.SKIPPED, "error": "the number opted out before the text was sent"}, "skipped"
        else:
            answer = await attempt(provider, sender, to=to, body=body)
            match answer.result:
                case SendResult.SENT:
                    values, key = {"state": MessageState.SENT, "provider_sid": answer.sent.sid, "sent_at": utcnow()}, "sent"
                case SendResult.SENDER_REFUSED:
                    values, key = {"state": MessageState.SKIPPED, "error": answer.reason}, "skipped"
                case SendResult.RETRY:  # throttled, or never connected: nothing accepted; next round
                    values, key = {"state": MessageState.QUEUED}, "retry"
                case SendResult.UNKNOWN:  # it may have gone out, so never re-sent blindly
                    values, key = {"state": MessageState.UNKNOWN, "error": answer.reason[:500]}, "failed"
                case _:  # a definite refusal; 21610 is an opt-out too (invariant 3)
                    values, key = {"state": MessageState.FAILED, "error": answer.reason[:500]}, "failed"
                    if answer.result == SendResult.OPTED_OUT:
                        async with db.unit_of_work() as session:
                            await consent.opt_out(session, to, channel="provider",
                                                  reason="the provider reports the recipient opted out (Twilio 21610)")
        async with db.unit_of_work() as session:
            await session.execute(update(OutboundText).where(OutboundText.id == text_id).values(**values))
        counts[key] += 1
    return counts
