from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from app.audience import consent
from app.db.base import utcnow
from app.deps import ProviderDep, ReviewerDep, SessionDep, SettingsDep, bearer_token, require
from app.inbox import delivery, policy, replies, service
from app.inbox.schemas import (
    AssignIn,
    AvailabilityIn,
    AvailabilityOut,
    ConversationDetail,
    ConversationIn,
    ConversationOut,
    DecisionIn,
    DraftCheckOut,
    ReplyIn,
    ReplyOut,
    SnoozeIn,
    StartedOut,
    StatsOut,
)
from app.models import Conversation, Reply, User
from app.pagination import Page, PageDep
from app.streams import event_stream, frame
from app.users import service as users
from app.vocab.conversation import ConversationState, ReplyState
from app.vocab.roles import Role

router = APIRouter(prefix="/v1", tags=["inbox"])
ReaderDep = Annotated[User, require(*policy.READERS)]
WorkerDep = Annotated[User, require(*policy.WORKERS)]
AgentDep = Annotated[User, require(Role.AGENT)]
STATES = "^(" + "|".join(ConversationState) + ")$"


async def _conversation(conversation_id: str, session: SessionDep, request: Request, _: ReaderDep) -> Conversation:
    return await service.get_conversation(session, conversation_id, lock=request.method != "GET")


ConversationDep = Annotated[Conversation, Depends(_conversation)]


async def _reply(reply_id: str, session: SessionDep, request: Request, _: ReaderDep) -> Reply:
    return await replies.get_reply(session, reply_id, lock=request.method != "GET")


ReplyDep = Annotated[Reply, Depends(_reply)]


async def _answer(request: Request, session, provider, settings, reply: Reply, response: Response) -> ReplyOut:
    """201 when the reply is on its way (or scheduled), 202 when it waits for a reviewer."""
    reply = await delivery.send_now(session, request.app.state.db, provider, settings, reply)
    response.status_code = status.HTTP_202_ACCEPTED if reply.state == ReplyState.HELD else status.HTTP_201_CREATED
    return ReplyOut.of(reply)


@router.get("/conversations", response_model=Page[ConversationOut])
async def list_conversations(session: SessionDep, user: ReaderDep, page: PageDep,
                             state: Annotated[str | None, Query(pattern=STATES)] = None,
                             assignee: Annotated[str | None, Query(max_length=40,
                                                                   description="me, none or a user id")] = None):
    """Newest activity first."""
    items, next_cursor = await service.list_conversations(session, state=state, assignee=assignee, me=user,
                                                          limit=page.limit, cursor=page.cursor)
    return {"items": items, "next_cursor": next_cursor}


@router.post("/conversations", response_model=StartedOut, status_code=status.HTTP_201_CREATED,
             responses={202: {"description": "held for review: the findings say why"}})
async def start_conversation(body: ConversationIn, request: Request, response: Response, session: SessionDep,
                             user: WorkerDep, settings: SettingsDep, provider: ProviderDep):
    """Text a customer first: needs their active consent."""
    conversation, reply = await replies.start(session, sender_id=body.sender_id, phone=body.phone, body=body.body,
                                              author=user, settings=settings)
    answered = await _answer(request, session, provider, settings, reply, response)
    return {"conversation": conversation, "reply": answered}


@router.get("/conversations/stream", response_class=StreamingResponse)
async def stream_conversations(request: Request, _: ReaderDep, settings: SettingsDep,
                               poll: Annotated[float, Query(ge=0.05, le=10, description="seconds between checks")] = 0.25,
                               duration: Annotated[float | None, Query(gt=0, le=86400,
                                                                       description="close after this many seconds")] = None):
    """Server-sent events: new inbound messages, replies, assignments and state changes, from now on.
    Each event's id is its position; a reconnecting client sends it back as ``Last-Event-ID`` and
    receives everything after it."""
    db = request.app.state.db
    last_seen = request.headers.get("last-event-id", "")
    cursor = int(last_seen) if last_seen.isdigit() else None

    async def fetch() -> list[str]:
        nonlocal cursor
        async with db.session() as session:
            if cursor is None:
                cursor = await service.last_event_id(session)
            ready, cursor = await service.events_after(session, cursor, now=utcnow())
        return [frame(event.id, event.kind, {"kind": event.kind, "at": event.at.isoformat(), **event.data})
                for event in ready]

    return event_stream(request, fetch, settings=settings, token=bearer_token(request), roles=tuple(policy.READERS),
                        poll=poll, duration=duration)


@router.get("/conversations/{conversation_id}", response_model=ConversationDetail)
async def get_conversation(conversation: ConversationDep, session: SessionDep, settings: SettingsDep):
    """The conversation with its whole thread, oldest first."""
    items = await service.thread(session, conversation, settings)
    for item in items:
        if item.get("reply") is not None:
            item["reply"] = ReplyOut.of(item["reply"])
    window_ends = (conversation.last_inbound_at + timedelta(hours=settings.inbox_reply_window_hours)
                   if conversation.last_inbound_at else None)
    return {**ConversationOut.model_validate(conversation).model_dump(), "messages": items,
            "opted_out": await consent.active_suppression(session, conversation.phone) is not None,
            "reply_window_open_until": window_ends}


@router.post("/conversations/{conversation_id}/messages", response_model=ReplyOut,
             status_code=status.HTTP_201_CREATED, responses={202: {"description": "held for review"}})
async def post_reply(body: ReplyIn, conversation: ConversationDep, request: Request, response: Response,
                     session: SessionDep, user: WorkerDep, settings: SettingsDep, provider: ProviderDep):
    """Answer from the conversation's company sender (there is no other "from")."""
    reply = await replies.reply(session, conversation, author=user, body=body.body, settings=settings)
    return await _answer(request, session, provider, settings, reply, response)


@router.post("/conversations/{conversation_id}/check", response_model=DraftCheckOut)
async def check_reply(body: ReplyIn, conversation: ConversationDep, session: SessionDep, _: WorkerDep,
                      settings: SettingsDep):
    """The checks a reply would meet, before it is sent: findings, consent, timing. Nothing is stored."""
    return await replies.check_draft(session, conversation, body=body.body, settings=settings)


@router.post("/conversations/{conversation_id}/assign", response_model=ConversationOut)
async def assign(body: AssignIn, conversation: ConversationDep, session: SessionDep, user: WorkerDep):
    target = await users.get_user(session, body.user_id) if body.user_id else None
    return await service.assign(session, conversation, target=target, actor=user, now=utcnow())


@router.post("/conversations/{conversation_id}/resolve", response_model=ConversationOut)
async def resolve(conversation: ConversationDep, session: SessionDep, user: WorkerDep):
    return await service.resolve(session, conversation, actor=user, now=utcnow())


@router.post("/conversations/{conversation_id}/snooze", response_model=ConversationOut)
async def snooze(body: SnoozeIn, conversation: ConversationDep, session: SessionDep, user: WorkerDep):
    return await service.snooze(session, conversation, actor=user, until=body.until, now=utcnow())


@router.post("/conversations/{conversation_id}/reopen", response_model=ConversationOut)
async def reopen(conversation: ConversationDep, session: SessionDep, user: WorkerDep):
    return await service.reopen(session, conversation, actor=user, now=utcnow())


@router.get("/replies", response_model=Page[ReplyOut])
async def list_replies(session: SessionDep, _: ReaderDep, page: PageDep,
                       state: Annotated[str | None, Query(pattern="^(" + "|".join(ReplyState) + ")$")] = None):
    """Replies, newest first; ``?state=held`` is the reviewers' queue."""
    rows, next_cursor = await replies.list_replies(session, state=state, limit=page.limit, cursor=page.cursor)
    return {"items": [ReplyOut.of(r) for r in rows], "next_cursor": next_cursor}


@router.post("/replies/{reply_id}/approve", response_model=ReplyOut)
async def approve(held: ReplyDep, request: Request, response: Response, session: SessionDep, reviewer: ReviewerDep,
                  settings: SettingsDep, provider: ProviderDep, body: DecisionIn | None = None):
    """A reviewer other than the author lets a held reply go (now, or at the customer's window)."""
    approved = await replies.approve(session, held, reviewer=reviewer, comment=body.comment if body else None,
                                     settings=settings)
    out = await _answer(request, session, provider, settings, approved, response)
    response.status_code = status.HTTP_200_OK
    return out


@router.post("/replies/{reply_id}/reject", response_model=ReplyOut)
async def reject(held: ReplyDep, session: SessionDep, reviewer: ReviewerDep, body: DecisionIn | None = None):
    return ReplyOut.of(await replies.reject(session, held, reviewer=reviewer, comment=body.comment if body else None))


@router.get("/inbox/stats", response_model=StatsOut)
async def inbox_stats(session: SessionDep, _: ReaderDep,
                      window_hours: Annotated[float, Query(gt=0, le=24 * 90)] = 24):
    """Open and unassigned conversations, the oldest waiting, and median first-response and
    resolution times over the window."""
    return await service.stats(session, now=utcnow(), window=timedelta(hours=window_hours))


@router.get("/me/availability", response_model=AvailabilityOut)
async def get_availability(session: SessionDep, agent: AgentDep):
    return await service.availability(session, agent)


@router.put("/me/availability", response_model=AvailabilityOut)
async def set_availability(body: AvailabilityIn, session: SessionDep, agent: AgentDep):
    """An agent takes new conversations (round-robin) only while available."""
    return await service.set_availability(session, agent, available=body.available, now=utcnow())
