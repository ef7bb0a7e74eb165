"""Sending a reply: re-checked, claimed and committed, sent through ``Provider.send``, recorded.

The same at-most-once rules as dispatch (DESIGN.md invariant 5): a reply is claimed (``sending``) in
its own committed transaction before the provider call, which runs outside any transaction; the
outcome is recorded in another. The answer is read as every sending path reads it
(``app.providers.outcomes``): a throttled or
never-connected send (``safe_to_retry``) is queued again after a back-off; an unknown outcome (a 5xx,
a timeout after the request left) becomes ``unknown`` and is reconciled with the provider before
anything is resent; any other refusal is shown on the reply with its code. Twilio's 21610 is an
opt-out like any other.

Right before the call, the reply is checked again: the sender still verified (invariant 1), the
customer not opted out and the consent rules still met (2, 3), and the moment inside their window
unless they are texting (7); it takes a send slot on the sender's timeline, shared with the
campaigns (6) — a slot further off than a few seconds is waited for in the queue — and one message of
the sender's daily carrier cap, also shared with the campaigns (a reply over it waits for the next
carrier day).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audience import consent
from app.config import Settings
from app.db import Database
from app.db.base import utcnow
from app.dispatch import states, throttle
from app.dispatch.reconcile import CLOCK_SKEW
from app.dispatch.send import backoff
from app.inbox import replies, service
from app.inbox.lifecycle import DUE
from app.models import Conversation, Reply, Sender
from app.providers import outcomes
from app.providers.base import Provider, SenderRefused, ensure_sendable
from app.providers.errors import ProviderError
from app.providers.outcomes import SendResult
from app.vocab.conversation import ReplyPurpose, ReplyState
from app.vocab.message import MessageState

#: A reply claimed this long ago and still ``sending`` lost its process: it is reconciled.
STALE_CLAIM = timedelta(minutes=2)


def status_callback_url(settings: Settings, reply_id: str) -> str:
    """Carries the reply id, so a callback finds the reply even if its SID was never recorded."""
    return f"{settings.public_base_url}/webhooks/twilio/status?r={reply_id}"


async def _claim(session: AsyncSession, reply_id: str, settings: Settings, now: datetime
                 ) -> tuple[Reply, Conversation, Sender] | None:
    """The reply, claimed for sending after the last checks; None when it is not due or not to go."""
    query = select(Reply).where(Reply.id == reply_id, Reply.state.in_(DUE),
                                or_(Reply.not_before.is_(None), Reply.not_before <= now))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    reply = await session.scalar(query)
    if reply is None:
        return None
    conversation = await session.get(Conversation, reply.conversation_id, populate_existing=True)
    sender = await session.get(Sender, conversation.sender_id, populate_existing=True)
    try:
        ensure_sendable(sender)
    except SenderRefused as refused:
        _finish(session, reply, conversation, now, state=ReplyState.SKIPPED, error=refused.message)
        return None
    refusal = await replies.consent_refusal(session, conversation, settings=settings, now=now,
                                            starting=reply.purpose == ReplyPurpose.START)
    if refusal is not None:
        _finish(session, reply, conversation, now, state=ReplyState.SKIPPED, error=refusal.message)
        return None
    when = replies.send_at(conversation, settings, now)
    if when > now:  # the customer's quiet hours began meanwhile: wait for their window
        reply.state, reply.not_before, reply.updated_at = ReplyState.SCHEDULED, when, now
        return None
    # The sender's rate holds for replies too: a slot on its timeline, shared with every campaign.
    if reply.slot_at is None or time.time() - reply.slot_at.timestamp() > throttle.LATE:
        first, offset = await throttle.reserve(session, sender.id, sender.mps, 1)
        reply.slot_at = datetime.fromtimestamp(first - offset, UTC)
    if reply.slot_at.timestamp() - time.time() > throttle.MAX_SLOT_WAIT:  # a campaign holds the next slots: queue behind
        reply.not_before, reply.updated_at = reply.slot_at, now
        return None
    # The registration's daily cap counts every message from the sender, replies with campaigns: a
    # reply over it waits for the next carrier day instead of being filtered by the carrier.
    if sender.daily_cap is not None and not await throttle.take_daily(session, sender.id, sender.daily_cap, 1, now):
        reply.not_before, reply.slot_at, reply.updated_at = throttle.carrier_day(now)[1], None, now
        reply.error = (f"the sender's carrier registration allows {sender.daily_cap} messages a day and today's "
                       "are used up: this reply waits for the next carrier day (midnight Pacific time)")
        return None
    reply.state, reply.claimed_at, reply.attempts, reply.updated_at = ReplyState.SENDING, now, reply.attempts + 1, now
    return reply, conversation, sender


def _finish(session: AsyncSession, reply: Reply, conversation: Conversation, now: datetime, **values) -> None:
    for key, value in values.items():
        setattr(reply, key, value)
    reply.updated_at = now
    service.emit(session, conversation, "reply", reply_id=reply.id, state=reply.state, error=reply.error)


async def send(db: Database, provider: Provider, settings: Settings, reply_id: str, *,
               now: datetime | None = None) -> str | None:
    """Send one due reply; its state afterwards (None when it was not due)."""
    now = now or utcnow()
    async with db.unit_of_work() as session:
        claimed = await _claim(session, reply_id, settings, now)
        if claimed is None:
            return None
        reply, conversation, sender = claimed
        to, body, attempts, slot = conversation.phone, reply.body, reply.attempts, reply.slot_at.timestamp()
    # Committed: the reply is ``sending`` before the provider hears of it. It leaves in its slot.
    if slot - time.time() > 0:
        await asyncio.sleep(slot - time.time())
    answer = await outcomes.attempt(provider, sender, to=to, body=body,
                                    status_callback=status_callback_url(settings, reply_id))
    opted_out = answer.result == SendResult.OPTED_OUT
    if answer.result == SendResult.SENT:
        values = {"state": ReplyState.SENT, "provider_sid": answer.sent.sid, "sent_at": utcnow(), "error": None}
    elif answer.result == SendResult.SENDER_REFUSED:
        values = {"state": ReplyState.SKIPPED, "error": answer.reason[:500]}
    elif answer.result == SendResult.RETRY:  # throttled, or never connected: nothing was accepted
        values = {"state": ReplyState.QUEUED, "not_before": now + timedelta(seconds=backoff(attempts)),
                  "error": f"not sent yet, retrying: {answer.reason}"[:500], "error_code": answer.error_code}
    elif answer.result == SendResult.UNKNOWN:  # it may have gone out: reconcile, never resend blindly
        values = {"state": ReplyState.UNKNOWN, "error": f"outcome unknown, checking with the provider: {answer.reason}"[:500]}
    else:  # opted out at the provider (21610), an invalid number, any other definite refusal
        values = {"state": ReplyState.FAILED, "error_code": answer.error_code or (21610 if opted_out else None),
                  "error": answer.reason[:500]}
    async with db.unit_of_work() as session:
        if answer.throttled:  # the provider asked the sender to slow down: campaigns and replies alike
            await throttle.penalise(session, sender.id)
        reply = await session.get(Reply, reply_id, populate_existing=True)
        conversation = await session.get(Conversation, reply.conversation_id)
        if reply.state == ReplyState.SENDING:  # a status callback (?r=) may have moved it on already
            _finish(session, reply, conversation, utcnow(), **values)
        if opted_out and await consent.opt_out(session, to, channel="provider",
                                               reason="the provider reports the recipient opted out (Twilio 21610)"):
            from app.alerts import guard

            await guard.record_opt_out(session, to, settings=settings)
        return reply.state


async def send_now(session: AsyncSession, db: Database, provider: Provider, settings: Settings,
                   reply: Reply) -> Reply:
    """A request's reply that may go now: the request's work is committed first (the reply is stored
    before any provider call, as at-most-once needs), then it is sent like any due reply. The one
    place outside a unit of work that commits: answering a customer "at once" needs it."""
    if reply.state != ReplyState.QUEUED:
        return reply
    await session.commit()
    await send(db, provider, settings, reply.id)
    await session.refresh(reply)
    return reply


async def due_replies(session: AsyncSession, *, now: datetime, limit: int = 50) -> list[str]:
    return list((await session.scalars(select(Reply.id).where(
        Reply.state.in_(DUE), or_(Reply.not_before.is_(None), Reply.not_before <= now))
        .order_by(Reply.not_before).limit(limit))).all())


async def reconcile(db: Database, provider: Provider, settings: Settings, *, now: datetime) -> dict[str, int]:
    """Replies in doubt (``unknown``, or ``sending`` by a process that died) are looked up at the
    provider: found means sent; not found means it never left and it is queued again."""
    counts = {"found_sent": 0, "requeued": 0, "unreachable": 0}
    async with db.session() as session:
        doubtful = (await session.execute(
            select(Reply, Conversation.phone, Sender).join(Conversation, Conversation.id == Reply.conversation_id)
            .join(Sender, Sender.id == Conversation.sender_id)
            .where(or_(Reply.state == ReplyState.UNKNOWN,
                       (Reply.state == ReplyState.SENDING) & (Reply.claimed_at < now - STALE_CLAIM)))
            .limit(50))).all()
    for reply, phone, sender in doubtful:
        try:
            candidates = await provider.messages_to(phone, since=(reply.claimed_at or reply.created_at) - CLOCK_SKEW)
        except ProviderError:
            counts["unreachable"] += 1
            continue
        origins = {sender.address, *(sender.pool or [])}
        match = next((m for m in candidates if (m.from_ in origins or m.from_ is None)
                      and (m.body is None or m.body == reply.body)), None)
        values = ({"state": ReplyState.SENT, "provider_sid": match.sid, "sent_at": match.created_at or now,
                   "error": None} if match else {"state": ReplyState.QUEUED, "not_before": now, "error": None})
        async with db.unit_of_work() as session:
            moved = await session.execute(update(Reply).where(Reply.id == reply.id, Reply.state == reply.state)
                                          .values(**values, updated_at=now))
            if moved.rowcount:
                conversation = await session.get(Conversation, reply.conversation_id)
                service.emit(session, conversation, "reply", reply_id=reply.id, state=values["state"])
        counts["found_sent" if match else "requeued"] += 1
    return counts


async def send_due(db: Database, provider: Provider, settings: Settings, *, now: datetime | None = None
                   ) -> dict[str, int]:
    """The worker's job: wake snoozed conversations, send due replies, reconcile those in doubt."""
    now = now or utcnow()
    async with db.unit_of_work() as session:
        woken = await service.wake_snoozed(session, now=now)
        due = await due_replies(session, now=now)
    counts = {"woken": woken, "sent": 0, "not_sent": 0}
    for reply_id in due:
        state = await send(db, provider, settings, reply_id, now=now)
        counts["sent" if state == ReplyState.SENT else "not_sent"] += 1
    counts.update(await reconcile(db, provider, settings, now=now))
    return counts


async def record_status(session: AsyncSession, sid: str, status: str, error_code: int | None, *,
                        reply_id: str | None, now: datetime) -> bool:
    """A status callback for a reply: attaches the SID when the send was never recorded (``?r=``),
    then moves the reply forward only (the same monotonic rule as campaign messages)."""
    if reply_id:
        await session.execute(update(Reply).where(
            Reply.id == reply_id, Reply.provider_sid.is_(None),
            Reply.state.in_((ReplyState.SENDING, ReplyState.UNKNOWN, ReplyState.QUEUED))).values(
            provider_sid=sid, state=ReplyState.SENT, sent_at=now, updated_at=now, error=None))
    target, sources = states.forward_moves(status)
    if target is None:
        return False
    values = {"state": target, "updated_at": now}
    if target == MessageState.DELIVERED:
        values["delivered_at"] = now
    if target in (MessageState.UNDELIVERED, MessageState.FAILED):
        values["error_code"] = error_code
    moved = (await session.execute(update(Reply).where(Reply.provider_sid == sid, Reply.state.in_(sources))
                                   .values(**values).returning(Reply.id, Reply.conversation_id))).first()
    if moved is None:
        return False
    conversation = await session.get(Conversation, moved.conversation_id)
    service.emit(session, conversation, "reply", reply_id=moved.id, state=target, error_code=values.get("error_code"))
    await session.flush()
    return True

