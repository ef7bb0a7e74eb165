"""A campaign's counts (API.md): audience, queued, sent, delivered, failed, skipped, opt_outs, rate."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Campaign, Message
from app.vocab.message import MessageState


async def campaign_counts(session: AsyncSession, campaign_id: str) -> dict[str, float | int]:
    by_state = dict((await session.execute(
        select(Message.state, func.count()).where(Message.campaign_id == campaign_id).group_by(Message.state)
    )).all())
    delivered = by_state.get(MessageState.DELIVERED, 0)
    counts: dict[str, float | int] = {
        "audience": sum(by_state.values()),
        "queued": by_state.get(MessageState.QUEUED, 0) + by_state.get(MessageState.SENDING, 0),
        "sent": by_state.get(MessageState.SENT, 0) + delivered + by_state.get(MessageState.UNDELIVERED, 0),
        "delivered": delivered,
        "failed": by_state.get(MessageState.FAILED, 0) + by_state.get(MessageState.UNDELIVERED, 0),
        "skipped": by_state.get(MessageState.SKIPPED, 0),
        "opt_outs": int(await session.scalar(select(Campaign.opt_out_count).where(Campaign.id == campaign_id)) or 0),
    }
    counts["opt_out_rate"] = counts["opt_outs"] / delivered if delivered else 0.0
    return counts
