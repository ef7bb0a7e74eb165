"""Replies: written by an employee (or the company itself), checked, held for review or timed, and
handed to ``app.inbox.delivery`` — the same gate as a campaign (DESIGN.md, "The company inbox").

Before a reply is stored: the sender is a verified company sender (invariant 1), the consent rules
of ``policy.consent_refusal`` allow it (409 naming the rule otherwise), and the content checks run:
a personal-looking reply is held until a reviewer other than its author decides (invariant 4, its
conversational form). A reply that may go is queued now, or scheduled for the start of the
customer's sending window (invariant 7).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audience import consent
from app.audience.service import normalize_phone, zones_for
from app.audit.service import record
from app.campaigns import content, segments
from app.campaigns.service import company_numbers, content_context, finding_out
from app.config import Settings
from app.db.base import utcnow
from app.dispatch.send import recipient_window
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.inbox import policy, service
from app.models import Conversation, Reply, Sender, User
from app.providers.base import ensure_sendable
from app.vocab.conversation import ReplyPurpose, ReplyState
from app.vocab.roles import Role

#: Twilio's limit for one message body, and the most segments a reply may cost (as for campaigns).
MAX_BODY_CHARS, MAX_SEGMENTS = 1600, 10


def check_body(body: str, *, field: str = "body") -> str:
    if not body.strip():
        raise Invalid("the reply is empty", field=field)
    info = segments.segment_info(body)
    if len(body) > MAX_BODY_CHARS or info.segments > MAX_SEGMENTS:
        raise Invalid(f"the reply is {info.segments} segments ({len(body)} characters); at most {MAX_SEGMENTS}",
                      field=field)
    return body


async def get_reply(session: AsyncSession, reply_id: str, *, lock: bool = False) -> Reply:
    reply = await session.get(Reply, reply_id, with_for_update=lock or None)
    if reply is None:
        raise NotFound(f"no reply with id {reply_id}")
    return reply


def _reply_window(settings: Settings) -> timedelta:
    return timedelta(hours=settings.inbox_reply_window_hours)


async def list_replies(session: AsyncSession, *, state: str | None, limit: int, cursor: str | None
                       ) -> tuple[list[Reply], str | None]:
    """Newest first, keyset pages on the time-ordered id."""
    query = select(Reply).order_by(Reply.id.desc()).limit(limit + 1)
    if state:
        query = query.where(Reply.state == state)
    if cursor:
        query = query.where(Reply.id < cursor)
    rows = list((await session.scalars(query)).all())
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


async def consent_refusal(session: AsyncSession, conversation: Conversation, *, settings: Settings, now: datetime,
                          starting: bool) -> policy.Refusal | None:
    return policy.consent_refusal(
        opted_out=await consent.active_suppression(session, conversation.phone) is not None,
        has_consent=await consent.has_active_consent(session, conversation.phone),
        last_inbound_at=conversation.last_inbound_at, now=now, reply_window=_reply_window(settings),
        starting=starting)


def send_at(conversation: Conversation, settings: Settings, now: datetime) -> datetime:
    """When a reply may land: now while the customer is texting, else inside their sending window."""
    _, zones, state = zones_for(conversation.phone, None, settings)
    return policy.send_at(now, last_inbound_at=conversation.last_inbound_at,
                          texting_grace=timedelta(minutes=settings.inbox_texting_grace_minutes),
                          zones=zones, window=recipient_window(settings, state))


def _time(reply: Reply, conversation: Conversation, settings: Settings, now: datetime) -> None:
    when = send_at(conversation, settings, now)
    reply.state = ReplyState.QUEUED if when <= now else ReplyState.SCHEDULED
    reply.not_before, reply.updated_at = when, now


async def _personal_findings(session: AsyncSession, conversation: Conversation, body: str,
                             settings: Settings) -> list[content.Finding]:
    sender = await session.get(Sender, conversation.sender_id)
    ctx = content_context(settings, sender=sender, company_numbers=await company_numbers(session))
    return content.personal_findings(body, ctx)


def _refuse(refusal: policy.Refusal) -> Conflict:
    return Conflict(refusal.message, code=refusal.rule, details={"rule": refusal.rule})


async def write(session: AsyncSession, conversation: Conversation, *, author: User | None, body: str, purpose: str,
                settings: Settings, now: datetime | None = None) -> Reply:
    """Store a reply after the sender, consent and content checks; it is held, queued or scheduled."""
    now = now or utcnow()
    check_body(body)
    ensure_sendable(await session.get(Sender, conversation.sender_id))
    refusal = await consent_refusal(session, conversation, settings=settings, now=now,
                                    starting=purpose == ReplyPurpose.START)
    if refusal:
        raise _refuse(refusal)
    findings = (await _personal_findings(session, conversation, body, settings)
                if purpose != ReplyPurpose.AUTO_REPLY else [])
    reply = Reply(conversation_id=conversation.id, purpose=purpose, author_id=author.id if author else None,
                  body=body, findings=[finding_out(f) for f in findings], attempts=0, created_at=now, updated_at=now)
    if findings:
        reply.state = ReplyState.HELD
    else:
        _time(reply, conversation, settings, now)
    session.add(reply)
    await session.flush()
    if purpose != ReplyPurpose.AUTO_REPLY:  # a person answered: the customer is no longer waiting
        conversation.waiting_since = None
        conversation.first_response_at = conversation.first_response_at or now
        conversation.last_reply_at = now
    conversation.last_activity_at = conversation.updated_at = now
    record(session, "reply.written", actor=author, target_type="reply", target_id=reply.id,
           conversation_id=conversation.id, purpose=purpose, state=reply.state,
           findings=[f.code for f in findings])
    service.emit(session, conversation, "reply", reply_id=reply.id, state=reply.state)
    await session.flush()
    return reply


async def check_draft(session: AsyncSession, conversation: Conversation, *, body: str, settings: Settings,
                      now: datetime | None = None) -> dict:
    """What would happen to this reply, without writing it: the content findings (a reply with any is
    held for review), the consent rule that would refuse it, and when it would land."""
    now = now or utcnow()
    check_body(body)
    sender = await session.get(Sender, conversation.sender_id)
    findings = await _personal_findings(session, conversation, body, settings)
    refusal = await consent_refusal(session, conversation, settings=settings, now=now, starting=False)
    return {"findings": [finding_out(f) for f in findings], "held": bool(findings),
            "refused": {"rule": refusal.rule, "message": refusal.message} if refusal else None,
            "sender_verified": sender.is_verified, "send_at": send_at(conversation, settings, now)}


async def reply(session: AsyncSession, conversation: Conversation, *, author: User, body: str, settings: Settings,
                now: datetime | None = None) -> Reply:
    """An employee answers in a conversation. An agent answering an unassigned one takes it."""
    now = now or utcnow()
    service.require_worker(conversation, author)
    written = await write(session, conversation, author=author, body=body, purpose=ReplyPurpose.REPLY,
                          settings=settings, now=now)
    if conversation.assignee_id is None and Role.AGENT in author.roles:
        await service.assign(session, conversation, target=author, actor=author, now=now)
    return written


async def start(session: AsyncSession, *, sender_id: str, phone: str, body: str, author: User, settings: Settings,
                now: datetime | None = None) -> tuple[Conversation, Reply]:
    """An employee texts a customer first: only with the customer's active consent."""
    now = now or utcnow()
    if not policy.may_work(author.roles):
        raise Forbidden("only agents, ops and admins start conversations")
    sender = await session.get(Sender, sender_id)
    if sender is None:
        raise Invalid(f"no sender with id {sender_id}", field="sender_id")
    phone = normalize_phone(phone, settings)
    check_body(body)
    conversation, _ = await service.open_conversation(session, sender, phone, actor=author, now=now)
    service.require_worker(conversation, author)
    written = await write(session, conversation, author=author, body=body, purpose=ReplyPurpose.START,
                          settings=settings, now=now)
    if conversation.state != service.OPEN:
        service.move(session, conversation, service.OPEN, actor=author, reason="the company wrote", now=now)
    if conversation.assignee_id is None and Role.AGENT in author.roles:
        await service.assign(session, conversation, target=author, actor=author, now=now)
    return conversation, written


async def queue_auto_reply(session: AsyncSession, conversation: Conversation, *, settings: Settings,
                           now: datetime | None = None) -> Reply | None:
    """Outside business hours, one automatic answer per conversation per day, from the company sender."""
    now = now or utcnow()
    hours = policy.parse_business_hours(settings.business_hours, settings.business_time_zone, settings.business_days)
    if not policy.auto_reply_due(hours, now=now, last_auto_reply_at=conversation.last_auto_reply_at):
        return None
    sender = await session.get(Sender, conversation.sender_id)
    if not sender.is_verified or await consent_refusal(session, conversation, settings=settings, now=now,
                                                           starting=False):
        return None
    conversation.last_auto_reply_at = now
    return await write(session, conversation, author=None, body=f"{settings.brand_name}: {settings.auto_reply_text}",
                       purpose=ReplyPurpose.AUTO_REPLY, settings=settings, now=now)


async def handover(session: AsyncSession, conversations: list[Conversation], *, body: str, author: User,
                   settings: Settings, now: datetime) -> list[dict]:
    """Offboarding's optional text, through the normal gate, one per conversation still going; a
    conversation the rules refuse is reported, not an error."""
    check_body(body, field="handover_text")
    results = []
    for conversation in conversations:
        if conversation.state == service.RESOLVED:
            continue
        try:
            written = await write(session, conversation, author=author, body=body, purpose=ReplyPurpose.HANDOVER,
                                  settings=settings, now=now)
        except Conflict as refused:
            results.append({"conversation_id": conversation.id, "reply_id": None, "state": None,
                            "refused": refused.code, "reason": refused.message})
            continue
        results.append({"conversation_id": conversation.id, "reply_id": written.id, "state": written.state,
                        "refused": None, "reason": None})
    return results


async def approve(session: AsyncSession, held: Reply, *, reviewer: User, comment: str | None, settings: Settings,
                  now: datetime | None = None) -> Reply:
    now = now or utcnow()
    _check_reviewable(held, reviewer)
    conversation = await service.get_conversation(session, held.conversation_id, lock=True)
    refusal = await consent_refusal(session, conversation, settings=settings, now=now,
                                    starting=held.purpose == ReplyPurpose.START)
    if refusal:
        raise _refuse(refusal)
    _decide(held, reviewer, comment, now)
    _time(held, conversation, settings, now)
    record(session, "reply.approved", actor=reviewer, target_type="reply", target_id=held.id, comment=comment,
           state=held.state)
    service.emit(session, conversation, "reply", reply_id=held.id, state=held.state)
    await session.flush()
    return held


async def reject(session: AsyncSession, held: Reply, *, reviewer: User, comment: str | None,
                 now: datetime | None = None) -> Reply:
    now = now or utcnow()
    _check_reviewable(held, reviewer)
    conversation = await service.get_conversation(session, held.conversation_id)
    _decide(held, reviewer, comment, now)
    held.state = ReplyState.REJECTED
    record(session, "reply.rejected", actor=reviewer, target_type="reply", target_id=held.id, comment=comment)
    service.emit(session, conversation, "reply", reply_id=held.id, state=held.state)
    await session.flush()
    return held


def _check_reviewable(held: Reply, reviewer: User) -> None:
    if held.author_id == reviewer.id:
        raise Forbidden("the author of a reply cannot review it; another reviewer must")
    if held.state != ReplyState.HELD:
        raise Conflict(f"only a held reply can be reviewed; this one is {held.state}", code="illegal_transition")


def _decide(held: Reply, reviewer: User, comment: str | None, now: datetime) -> None:
    held.reviewer_id, held.reviewed_at, held.review_comment, held.updated_at = reviewer.id, now, comment, now
