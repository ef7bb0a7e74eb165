"""Work that crosses domains. Each step lives in its own domain; this module only sequences them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.campaigns import service as campaigns
from app.config import Settings
from app.db.base import utcnow
from app.inbox import replies as inbox_replies
from app.inbox import service as inbox
from app.models import User
from app.senders import service as senders
from app.senders.schemas import SenderOut
from app.users import service as users


async def offboard(session: AsyncSession, user: User, *, actor: User, settings: Settings,
                   successor: User | None = None, handover_text: str | None = None) -> dict:
    """Offboard an employee in one call: keys revoked, their work handed back to the company, their
    conversations to ``successor`` (or the queue), with one optional handover text to each customer
    whose conversation is still going, through the normal gate."""
    result = await users.offboard(session, user, actor=actor)
    now = utcnow()
    conversations = await inbox.hand_over(session, user, successor=successor, actor=actor, now=now)
    handover = (await inbox_replies.handover(session, conversations, body=handover_text, author=actor,
                                             settings=settings, now=now) if handover_text else [])
    returned = await senders.return_assignments(session, user, actor=actor)
    handed_back: dict[str, list] = {
        "senders": [SenderOut.model_validate(sender).model_dump(mode="json") for sender in returned],
        "campaigns": [{"id": c.id, "name": c.name, "state": c.state}
                      for c in await campaigns.hand_back(session, user, actor=actor)],
        "conversations": [{"id": c.id, "assignee_id": c.assignee_id, "state": c.state} for c in conversations],
        "handover_texts": handover,
    }
    return {**result, "handed_back": handed_back}
