"""Reconciling sends whose outcome is unknown, before anything is resent (docs/design.md, invariant 5).

Twilio has no idempotency key for message creation, so a message is in doubt when
  - its worker died between claiming it and recording the result (state ``sending``, lease expired;
    workers never call the provider after their lease deadline, so the dead worker cannot still
    send it), or
  - the provider answered a 5xx or timed out after the request left (state ``unknown``, kept for a
    grace period so status callbacks can settle it first).
The protocol, per message in doubt:
  1. A status callback carrying our ``?m=<message id>`` attaches its MessageSid: settled as sent.
  2. Otherwise ask the provider for the account's messages to that number since the claim; one from
     the campaign's sender with the same body means it went out: record its SID as sent.
  3. Otherwise it never left: back to ``queued`` for a normal resend.
If the provider cannot be asked, the message stays in doubt and is tried again later.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.campaigns import content, template
from app.campaigns.service import content_context
from app.config import Settings
from app.db.base import utcnow
from app.dispatch.claim import fenced
from app.models import Campaign, Message, Sender, Subscriber
from app.providers.base import Provider
from app.providers.errors import ProviderError
from app.vocab.message import MessageState

log = logging.getLogger(__name__)

CLOCK_SKEW = timedelta(minutes=2)


async def in_doubt(session: AsyncSession, *, now: datetime, limit: int = 100) -> list[Message]:
    query = (
        select(Message)
        .where(Message.state.in_((MessageState.SENDING, MessageState.UNKNOWN)), Message.lease_expires_at < now)
        .order_by(Message.lease_expires_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list((await session.scalars(query)).all())


async def reconcile(session: AsyncSession, provider: Provider, settings: Settings, *,
                    now: datetime | None = None) -> dict[str, int]:
    now = now or utcnow()
    counts = {"found_sent": 0, "requeued": 0, "unreachable": 0}
    for message in await in_doubt(session, now=now):
        campaign = await session.get(Campaign, message.campaign_id)
        sender = await session.get(Sender, campaign.sender_id)
        subscriber = await session.get(Subscriber, message.subscriber_id)
        since = (message.claimed_at or message.created_at) - CLOCK_SKEW
        try:
            candidates = await provider.messages_to(message.to, since=since)
        except ProviderError as exc:
            counts["unreachable"] += 1
            log.warning("cannot reconcile message %s yet: %s", message.id, exc)
            continue
        origins = {sender.address, *(sender.pool or [])}
        body = template.render(content.full_body(campaign.body, content_context(settings, sender=sender)),
                               first_name=subscriber.first_name, attributes=subscriber.attributes or {})
        match = next((m for m in candidates
                      if (m.from_ in origins or m.from_ is None) and (m.body is None or m.body == body)), None)
        claim = fenced(message.id, message.claimed_at) if message.claimed_at else Message.id == message.id
        if match is not None:
            await session.execute(update(Message).where(claim).values(
                state=MessageState.SENT, provider_sid=match.sid, sent_at=match.created_at or now, updated_at=now,
                lease_expires_at=None))
            counts["found_sent"] += 1
        else:
            await session.execute(update(Message).where(claim).values(
                state=MessageState.QUEUED, claimed_at=None, lease_expires_at=None, updated_at=now,
                attempts=message.attempts + 1))
            counts["requeued"] += 1
    await session.flush()
    return counts


#: The states of a message whose SID a status callback may attach (its send was never recorded): a
#: claimed send whose worker died, or one whose outcome was unknown. Never ``queued``: a queued
#: message was never sent or was found not sent (step 3), and a callback alone — whose signature,
#: with no separators in Twilio's signing string, may be a replayed one for another ``?m=`` — must
#: not mark it sent, which would silently drop it for that subscriber.
ATTACHABLE = (MessageState.SENDING, MessageState.UNKNOWN)


async def attach_sid(session: AsyncSession, message_id: int, sid: str) -> Message | None:
    """A status callback for a message whose SID was never recorded (its worker died after the
    provider accepted it): the callback itself proves the send."""
    message = await session.scalar(select(Message).where(
        Message.id == message_id, Message.provider_sid.is_(None), Message.state.in_(ATTACHABLE)))
    if message is None:
        return None
    message.provider_sid, message.state, message.sent_at = sid, MessageState.SENT, utcnow()
    message.lease_expires_at = None
    await session.flush()
    return message
