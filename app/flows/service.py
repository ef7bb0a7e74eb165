"""Work that crosses domains. Each step lives in its own domain; this module only sequences them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.campaigns import service as campaigns
from app.models import User
from app.senders import service as senders
from app.senders.schemas import SenderOut
from app.users import service as users


async def offboard(session: AsyncSession, user: User, *, actor: User) -> dict:
    """Offboard an employee in one call: keys revoked, their work handed back to the company."""
    result = await users.offboard(session, user, actor=actor)
    returned = await senders.return_assignments(session, user, actor=actor)
    handed_back: dict[str, list] = {
        "senders": [SenderOut.model_validate(sender).model_dump(mode="json") for sender in returned],
        "campaigns": [{"id": c.id, "name": c.name, "state": c.state}
                      for c in await campaigns.hand_back(session, user, actor=actor)],
    }
    return {**result, "handed_back": handed_back}
