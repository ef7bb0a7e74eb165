"""A double opt-in list's own confirmation text, reviewed like a campaign body.

The text goes to every number added to the list, so the same automated checks run on it (links to
public shorteners, personal contacts, the oops detector, …) and a reviewer other than the list's
author approves it before anyone can be added (``audience.service.require_reviewed_confirmation``).
The text is fixed when the list is made, so an approval cannot be outlived by an edit: a different
text is a new list. Each decision, with its findings and the text's hash, is kept in the
append-only audit log. Lists using the standard confirmation text need no review.
"""

from __future__ import annotations

import hashlib

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.campaigns import content
from app.campaigns.service import company_numbers, content_context, finding_out
from app.config import Settings
from app.db.base import utcnow
from app.errors import Conflict, Forbidden
from app.models import Sender, SubscriberList, User


async def findings(session: AsyncSession, lst: SubscriberList, settings: Settings) -> list[content.Finding]:
    if lst.confirmation_text is None:
        raise Conflict(f"list {lst.id} uses the standard confirmation text; there is nothing to review",
                       code="no_custom_confirmation")
    sender = await session.get(Sender, lst.sender_id) if lst.sender_id else None
    ctx = content_context(settings, sender=sender, company_numbers=await company_numbers(session))
    return content.check_content(lst.confirmation_text, ctx)


async def review(session: AsyncSession, lst: SubscriberList, *, reviewer: User, decision: str, comment: str,
                 settings: Settings) -> list[content.Finding]:
    if reviewer.id == lst.created_by_id:
        raise Forbidden("the author of a list's confirmation text cannot review it; another reviewer must")
    if lst.confirmation_approved_at is not None:
        raise Conflict(f"list {lst.id}'s confirmation text was already approved", code="already_approved")
    found = await findings(session, lst, settings)
    blocking = [f for f in found if f.severity == "block"]
    if decision == "approve" and blocking:
        raise Conflict("cannot approve while a blocking finding stands: " + "; ".join(f.message for f in blocking),
                       code="blocking_findings", details=[finding_out(f) for f in found])
    if decision == "approve":
        lst.confirmation_approved_by_id, lst.confirmation_approved_at = reviewer.id, utcnow()
    record(session, "list.confirmation_reviewed", actor=reviewer, target_type="list", target_id=lst.id,
           decision=decision, comment=comment, findings=[finding_out(f) for f in found],
           text_hash=hashlib.sha256(lst.confirmation_text.encode()).hexdigest())
    await session.flush()
    return found
