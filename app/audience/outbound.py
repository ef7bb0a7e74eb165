"""Texts Fineline owes subscribers outside campaigns (double opt-in confirmations), sent by the worker.

Each goes out at most once: a provider answer that leaves the outcome unknown marks the text
``unknown`` rather than queueing it again. A number that opted out meanwhile is skipped.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audience import consent
from app.db.base import utcnow
from app.models import OutboundText, Sender
from app.providers.base import Provider, SenderRefused
from app.providers.errors import ProviderError, ProviderUnknownOutcome


async def send_queued(session: AsyncSession, provider: Provider, *, limit: int = 50) -> dict[str, int]:
    query = select(OutboundText).where(OutboundText.state == "queued").order_by(OutboundText.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    counts = {"sent": 0, "skipped": 0, "failed": 0, "retry": 0}
    for text in (await session.scalars(query)).all():
        if await consent.active_suppression(session, text.to) is not None:
            text.state, text.error = "skipped", "the number opted out before the text was sent"
            counts["skipped"] += 1
            continue
        sender = await session.get(Sender, text.sender_id)
        try:
            sent = await provider.send(sender, to=text.to, body=text.body)
        except SenderRefused as exc:
            text.state, text.error = "skipped", exc.message
            counts["skipped"] += 1
        except ProviderError as exc:
            if exc.safe_to_retry:  # throttled, or never connected: nothing was accepted, try next round
                counts["retry"] += 1
                continue
            # Unknown outcome: it may have gone out, so it is never re-sent blindly.
            text.state = "unknown" if isinstance(exc, ProviderUnknownOutcome) else "failed"
            text.error = str(exc)[:500]
            counts["failed"] += 1
        else:
            text.state, text.provider_sid, text.sent_at = "sent", sent.sid, utcnow()
            counts["sent"] += 1
    await session.flush()
    return counts
