"""Conversations: opened by the customer's texts, routed to an agent, moved between states, listed.

Every state change goes through ``move`` (the transition table, audited, streamed); every change of
assignee through ``_set_assignee`` (audited, streamed). The thread is read from where each text
already lives: inbound messages (stored by the webhook), campaign messages, and replies.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

from sqlalchemy import Row, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.campaigns import content, template
from app.campaigns.service import content_context
from app.config import Settings
from app.db.base import new_id, utcnow
from app.db.upsert import insert_ignore
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.inbox import lifecycle, policy
from app.models import (
    AgentStatus,
    Campaign,
    Conversation,
    ConversationEvent,
    InboundMessage,
    Message,
    Reply,
    Sender,
    Subscriber,
    User,
)
from app.vocab.conversation import ConversationState
from app.vocab.roles import Role

OPEN, SNOOZED, RESOLVED = ConversationState.OPEN, ConversationState.SNOOZED, ConversationState.RESOLVED


async def get_conversation(session: AsyncSession, conversation_id: str, *, lock: bool = False) -> Conversation:
    conversation = await session.get(Conversation, conversation_id, with_for_update=lock or None)
    if conversation is None:
        raise NotFound(f"no conversation with id {conversation_id}")
    return conversation


def summary(conversation: Conversation) -> dict:
    return {"id": conversation.id, "sender_id": conversation.sender_id, "phone": conversation.phone,
            "state": conversation.state, "assignee_id": conversation.assignee_id,
            "last_activity_at": conversation.last_activity_at.isoformat()}


def emit(session: AsyncSession, conversation: Conversation, kind: str, **data) -> None:
    """One event for the inbox stream, committed with the change it describes."""
    session.add(ConversationEvent(conversation_id=conversation.id, kind=kind,
                                  data={"conversation": summary(conversation), **data}))


# --- states ---------------------------------------------------------------------------------------

def move(session: AsyncSession, conversation: Conversation, target: str, *, actor: User | None, reason: str,
         now: datetime, snoozed_until: datetime | None = None) -> None:
    """The one gate for a conversation's state."""
    try:
        lifecycle.check_move(conversation.state, target)
    except lifecycle.IllegalTransition as exc:
        raise Conflict(str(exc), code="illegal_transition") from exc
    previous, conversation.state = conversation.state, target
    conversation.snoozed_until = snoozed_until if target == SNOOZED else None
    if target == RESOLVED:
        conversation.resolved_at, conversation.waiting_since = now, None
    elif previous == RESOLVED:  # a new episode
        conversation.opened_at, conversation.resolved_at, conversation.first_response_at = now, None, None
    conversation.updated_at = conversation.last_activity_at = now
    record(session, "conversation.state", actor=actor, target_type="conversation", target_id=conversation.id,
           previous=previous, state=target, reason=reason,
           snoozed_until=snoozed_until.isoformat() if snoozed_until else None)
    emit(session, conversation, "state", previous=previous, reason=reason)


def require_worker(conversation: Conversation, actor: User) -> None:
    refusal = policy.act_refusal(roles=actor.roles, actor_id=actor.id, assignee_id=conversation.assignee_id)
    if refusal:
        raise Forbidden(refusal)


async def resolve(session: AsyncSession, conversation: Conversation, *, actor: User, now: datetime) -> Conversation:
    require_worker(conversation, actor)
    move(session, conversation, RESOLVED, actor=actor, reason=f"resolved by {actor.email}", now=now)
    await session.flush()
    return conversation


async def snooze(session: AsyncSession, conversation: Conversation, *, actor: User, until: datetime,
                 now: datetime) -> Conversation:
    require_worker(conversation, actor)
    if until <= now:
        raise Invalid("until must be in the future", field="until")
    move(session, conversation, SNOOZED, actor=actor, reason=f"snoozed by {actor.email}", now=now,
         snoozed_until=until)
    await session.flush()
    return conversation


async def reopen(session: AsyncSession, conversation: Conversation, *, actor: User, now: datetime) -> Conversation:
    require_worker(conversation, actor)
    move(session, conversation, OPEN, actor=actor, reason=f"reopened by {actor.email}", now=now)
    await session.flush()
    return conversation


async def wake_snoozed(session: AsyncSession, *, now: datetime, limit: int = 200) -> int:
    """Snoozed conversations whose time has come are open again (the worker's job)."""
    due = (await session.scalars(select(Conversation).where(
        Conversation.state == SNOOZED, Conversation.snoozed_until <= now).limit(limit))).all()
    for conversation in due:
        move(session, conversation, OPEN, actor=None, reason="the snooze ended", now=now)
    await session.flush()
    return len(due)


# --- who answers ----------------------------------------------------------------------------------

def _set_assignee(session: AsyncSession, conversation: Conversation, assignee_id: str | None, *,
                  actor: User | None, reason: str, now: datetime) -> None:
    previous = conversation.assignee_id
    conversation.assignee_id, conversation.updated_at = assignee_id, now
    record(session, "conversation.assigned", actor=actor, target_type="conversation", target_id=conversation.id,
           previous=previous, assignee=assignee_id, reason=reason)
    emit(session, conversation, "assigned", previous=previous, reason=reason)


async def _note_assignment(session: AsyncSession, agent_id: str | None, now: datetime) -> None:
    if agent_id is not None:
        await session.execute(update(AgentStatus).where(AgentStatus.user_id == agent_id)
                              .values(last_assigned_at=now))


async def route(session: AsyncSession, conversation: Conversation, *, now: datetime) -> str | None:
    """Back to the last assignee if still active; else round-robin among available agents; else the queue."""
    last = None
    if conversation.assignee_id is not None:
        user = await session.get(User, conversation.assignee_id)
        last = policy.Agent(user.id, user.active and Role.AGENT in user.roles, False, None)
    rows = (await session.execute(
        select(User, AgentStatus).join(AgentStatus, AgentStatus.user_id == User.id)
        .where(AgentStatus.available, User.offboarded_at.is_(None)))).all()
    agents = [policy.Agent(user.id, Role.AGENT in user.roles, status.available, status.last_assigned_at)
              for user, status in rows]
    chosen = policy.choose_assignee(last, agents)
    if chosen != conversation.assignee_id:
        _set_assignee(session, conversation, chosen, actor=None, now=now,
                      reason="routed to an available agent" if chosen else "no agent available: the queue")
        await _note_assignment(session, chosen, now)
    return chosen


async def assign(session: AsyncSession, conversation: Conversation, *, target: User | None, actor: User,
                 now: datetime) -> Conversation:
    refusal = policy.assign_refusal(roles=actor.roles, actor_id=actor.id, assignee_id=conversation.assignee_id,
                                    target_id=target.id if target else None)
    if refusal:
        raise Forbidden(refusal)
    if target is not None and not (target.active and Role.AGENT in target.roles):
        raise Invalid(f"user {target.id} is not an active agent; conversations go only to agents", field="user_id")
    if conversation.assignee_id != (target.id if target else None):
        _set_assignee(session, conversation, target.id if target else None, actor=actor, now=now,
                      reason=f"assigned by {actor.email}")
        await _note_assignment(session, target.id if target else None, now)
    await session.flush()
    return conversation


async def availability(session: AsyncSession, user: User) -> AgentStatus:
    """The agent's availability (not available until they say so)."""
    return await session.get(AgentStatus, user.id) or AgentStatus(user_id=user.id, available=False)


async def set_availability(session: AsyncSession, user: User, *, available: bool, now: datetime) -> AgentStatus:
    if Role.AGENT not in user.roles:
        raise Forbidden("only agents set their availability for the inbox")
    status = await session.get(AgentStatus, user.id)
    if status is None:
        status = AgentStatus(user_id=user.id, available=available, updated_at=now)
        session.add(status)
    status.available, status.updated_at = available, now
    record(session, "agent.availability", actor=user, target_type="user", target_id=user.id, available=available)
    await session.flush()
    return status


async def hand_over(session: AsyncSession, user: User, *, successor: User | None, actor: User,
                    now: datetime) -> list[Conversation]:
    """Offboarding: every conversation of ``user`` goes to ``successor`` (an active agent) or the queue.
    Nothing else changes: the whole history stays with the company."""
    if successor is not None and not (successor.active and Role.AGENT in successor.roles):
        raise Invalid(f"user {successor.id} is not an active agent and cannot take over conversations",
                      field="successor_id")
    if successor is not None and successor.id == user.id:
        raise Invalid("the successor cannot be the employee who leaves", field="successor_id")
    conversations = list((await session.scalars(select(Conversation).where(Conversation.assignee_id == user.id)
                                                .order_by(Conversation.id).with_for_update())).all())
    for conversation in conversations:
        _set_assignee(session, conversation, successor.id if successor else None, actor=actor, now=now,
                      reason=f"offboarding {user.email}")
    await _note_assignment(session, successor.id if successor and conversations else None, now)
    await session.flush()
    return conversations


# --- inbound --------------------------------------------------------------------------------------

async def sender_for_inbound(session: AsyncSession, to: str, messaging_service_sid: str | None) -> Sender | None:
    """The company sender a text was written to: its messaging service when it has one, else the number."""
    for address in (messaging_service_sid, to):
        if address:
            sender = await session.scalar(select(Sender).where(Sender.address == address))
            if sender is not None:
                return sender
    return None


async def open_conversation(session: AsyncSession, sender: Sender, phone: str, *, actor: User | None,
                            now: datetime, **details) -> tuple[Conversation, bool]:
    """The conversation of (sender, phone), made if there is none (two at once make one), locked."""
    created = await insert_ignore(session, Conversation, {
        "id": new_id("cnv"), "sender_id": sender.id, "phone": phone, "state": OPEN, "opened_at": now,
        "last_activity_at": now, "created_at": now, "updated_at": now}, conflict=["sender_id", "phone"])
    conversation = await session.scalar(select(Conversation).where(
        Conversation.sender_id == sender.id, Conversation.phone == phone).with_for_update()
        .execution_options(populate_existing=True))
    if created:
        record(session, "conversation.opened", actor=actor, target_type="conversation", target_id=conversation.id,
               sender_id=sender.id, phone=phone, **details)
    return conversation, created


async def on_inbound(session: AsyncSession, *, sid: str, phone: str, body: str, params: dict[str, str],
                     settings: Settings, now: datetime | None = None) -> Conversation | None:
    """A customer's text that is not a keyword: opens (or reopens, or wakes) the conversation with the
    sender it was written to and routes it (the caller then queues any out-of-hours auto-reply)."""
    now = now or utcnow()
    sender = await sender_for_inbound(session, params.get("To") or "", params.get("MessagingServiceSid"))
    if sender is None:
        return None
    conversation, created = await open_conversation(session, sender, phone, actor=None, now=now, inbound_sid=sid)
    reopened = conversation.state != OPEN
    if reopened:
        move(session, conversation, OPEN, actor=None, reason="the customer wrote again", now=now)
    conversation.last_inbound_at = conversation.last_activity_at = conversation.updated_at = now
    conversation.waiting_since = conversation.waiting_since or now
    emit(session, conversation, "inbound", sid=sid, body=body, media=policy.media_of(params))
    if created or reopened or conversation.assignee_id is None:
        await route(session, conversation, now=now)
    await session.flush()
    return conversation


# --- reading --------------------------------------------------------------------------------------

def _cursor_of(conversation: Conversation | Row) -> str:
    micros = int(conversation.last_activity_at.timestamp() * 1_000_000)
    return f"{micros}_{conversation.id}"


def _parse_cursor(cursor: str) -> tuple[datetime, str]:
    micros, _, conversation_id = cursor.partition("_")
    if not micros.isdigit() or not conversation_id:
        raise Invalid("cursor must be the next_cursor of a previous page", field="cursor")
    return datetime.fromtimestamp(int(micros) / 1_000_000, UTC), conversation_id


async def list_conversations(session: AsyncSession, *, state: str | None, assignee: str | None, me: User,
                             limit: int, cursor: str | None) -> tuple[list[Row], str | None]:
    """Newest activity first, keyset pages on (last_activity_at, id) — served by the two
    (state | assignee, state), last_activity_at, id indexes."""
    # Plain rows, not ORM entities: a page is read, never changed, and skipping the identity map
    # is most of what the listing costs beyond the query's 0.1 ms.
    query = select(*Conversation.__table__.c).order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
    if state:
        query = query.where(Conversation.state == state)
    if assignee == "none":
        query = query.where(Conversation.assignee_id.is_(None))
    elif assignee:
        query = query.where(Conversation.assignee_id == (me.id if assignee == "me" else assignee))
    if cursor:
        at, conversation_id = _parse_cursor(cursor)
        query = query.where(or_(Conversation.last_activity_at < at,
                                and_(Conversation.last_activity_at == at, Conversation.id < conversation_id)))
    rows = list((await session.execute(query.limit(limit + 1))).all())
    return rows[:limit], (_cursor_of(rows[limit - 1]) if len(rows) > limit else None)


async def thread(session: AsyncSession, conversation: Conversation, settings: Settings, *,
                 limit: int = 500) -> list[dict]:
    """Everything said between the sender and the customer, oldest first: their texts (keywords
    too, with any media links — never fetched), the campaign messages they got, the company's replies."""
    sender = await session.get(Sender, conversation.sender_id)
    origins = sorted({sender.address, *(sender.pool or [])})
    items: list[dict] = []
    inbound = await session.scalars(
        select(InboundMessage).where(InboundMessage.from_phone == conversation.phone, InboundMessage.to.in_(origins))
        .order_by(InboundMessage.received_at.desc()).limit(limit))
    for message in inbound:
        items.append({"kind": "inbound", "at": message.received_at, "id": message.id, "body": message.body,
                      "classification": message.classification, "media": policy.media_of(message.params or {})})
    ctx = content_context(settings, sender=sender)
    sent = await session.execute(
        select(Message, Campaign.name, Campaign.body, Subscriber.first_name, Subscriber.attributes)
        .join(Campaign, Campaign.id == Message.campaign_id).join(Subscriber, Subscriber.id == Message.subscriber_id)
        .where(Message.to == conversation.phone, Message.sent_at.is_not(None), Campaign.sender_id == sender.id)
        .order_by(Message.sent_at.desc()).limit(limit))
    for message, name, body, first_name, attributes in sent:
        text = template.render(content.full_body(body, ctx), first_name=first_name, attributes=attributes or {})
        items.append({"kind": "campaign", "at": message.sent_at, "id": str(message.id), "body": text,
                      "campaign_id": message.campaign_id, "campaign_name": name, "state": message.state})
    for reply in await session.scalars(select(Reply).where(Reply.conversation_id == conversation.id)
                                       .order_by(Reply.created_at.desc()).limit(limit)):
        items.append({"kind": "reply", "at": reply.created_at, "id": reply.id, "body": reply.body,
                      "reply": reply})
    items.sort(key=lambda item: (item["at"], item["id"]))
    return items[-limit:]


async def stats(session: AsyncSession, *, now: datetime, window: timedelta) -> dict:
    open_count, unassigned, oldest = (await session.execute(
        select(func.count(), func.count().filter(Conversation.assignee_id.is_(None)), func.min(Conversation.waiting_since))
        .where(Conversation.state == OPEN))).one()
    since = now - window
    responses = (await session.execute(select(Conversation.opened_at, Conversation.first_response_at).where(
        Conversation.first_response_at >= since))).all()
    resolutions = (await session.execute(select(Conversation.opened_at, Conversation.resolved_at).where(
        Conversation.resolved_at >= since))).all()

    def median(pairs) -> float | None:
        spans = [(end - start).total_seconds() for start, end in pairs if start is not None and end >= start]
        return statistics.median(spans) if spans else None

    return {"open": open_count, "unassigned": unassigned, "oldest_waiting_since": oldest,
            "oldest_waiting_seconds": (now - oldest).total_seconds() if oldest else None,
            "window_hours": window.total_seconds() / 3600,
            "median_first_response_seconds": median(responses), "median_resolution_seconds": median(resolutions)}


# --- the stream -----------------------------------------------------------------------------------

#: An id missing between two events may belong to a transaction still committing (ids are taken
#: before commit): the stream waits this long for it before passing over it (a rolled-back one).
GAP_PATIENCE = timedelta(seconds=2)


async def events_after(session: AsyncSession, cursor: int, *, now: datetime, limit: int = 500
                       ) -> tuple[list[ConversationEvent], int]:
    """Events after ``cursor`` in id order, stopping at a recent gap; and the new cursor."""
    rows = (await session.scalars(select(ConversationEvent).where(ConversationEvent.id > cursor)
                                  .order_by(ConversationEvent.id).limit(limit))).all()
    ready = []
    for event in rows:
        if event.id != cursor + 1 and now - event.at < GAP_PATIENCE:
            break
        ready.append(event)
        cursor = event.id
    return ready, cursor


async def last_event_id(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.max(ConversationEvent.id))) or 0)
