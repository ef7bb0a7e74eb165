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
from app.providers.base import Provider, SenderRefused
from app.providers.errors import ProviderError, ProviderUnknownOutcome, RecipientOptedOut
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
            try:
                sent = await provider.send(sender, to=to, body=body)
            except SenderRefused as exc:
                values, key = {"state": MessageState.SKIPPED, "error": exc.message}, "skipped"
            except RecipientOptedOut as exc:
                values, key = {"state": MessageState.FAILED, "error": str(exc)[:500]}, "failed"
                async with db.unit_of_work() as session:
                    await consent.opt_out(session, to, channel="provider",
                                          reason="the provider reports the recipient opted out (Twilio 21610)")
            except ProviderError as exc:
                if exc.safe_to_retry:  # throttled, or never connected: nothing accepted; next round
                    values, key = {"state": MessageState.QUEUED}, "retry"
                else:  # unknown outcome: it may have gone out, so never re-sent blindly
                    state = MessageState.UNKNOWN if isinstance(exc, ProviderUnknownOutcome) else MessageState.FAILED
                    values, key = {"state": state, "error": str(exc)[:500]}, "failed"
            else:
                values, key = {"state": MessageState.SENT, "provider_sid": sent.sid, "sent_at": utcnow()}, "sent"
        async with db.unit_of_work() as session:
            await session.execute(update(OutboundText).where(OutboundText.id == text_id).values(**values))
        counts[key] += 1
    return counts
