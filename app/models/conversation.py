"""The company inbox: conversations with customers, the replies written in them, agents' availability,
and the event log the inbox stream is served from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, created_at_column, id_column
from app.models.message import BigId


class Conversation(Base):
    """One per (company sender, customer number). ``state`` changes only through
    ``app.inbox.service.move`` (audited)."""

    __tablename__ = "conversation"
    __table_args__ = (
        UniqueConstraint("sender_id", "phone"),
        # The queue and "my conversations", newest activity first, read as keyset pages.
        Index("ix_conversation_state_activity", "state", "last_activity_at", "id"),
        Index("ix_conversation_assignee_activity", "assignee_id", "state", "last_activity_at", "id"),
        Index("ix_conversation_snoozed", "snoozed_until", postgresql_where=text("state = 'snoozed'"),
              sqlite_where=text("state = 'snoozed'")),
    )

    id: Mapped[str] = id_column("cnv")
    sender_id: Mapped[str] = mapped_column(ForeignKey("sender.id"))
    phone: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(16), default="open")
    assignee_id: Mapped[str | None] = mapped_column(ForeignKey("user.id"))
    snoozed_until: Mapped[datetime | None]
    opened_at: Mapped[datetime] = created_at_column()  # the start of the current episode
    waiting_since: Mapped[datetime | None]  # the first inbound message nobody has answered yet
    first_response_at: Mapped[datetime | None]  # the first reply of the current episode
    resolved_at: Mapped[datetime | None]
    last_inbound_at: Mapped[datetime | None]
    last_reply_at: Mapped[datetime | None]
    last_auto_reply_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime] = created_at_column()
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = created_at_column()


class Reply(Base):
    """A text the company writes in a conversation. It leaves only through ``Provider.send`` from the
    conversation's sender (``app.inbox.delivery``); a personal-looking one is held for a reviewer."""

    __tablename__ = "reply"
    __table_args__ = (
        Index("ix_reply_due", "not_before", postgresql_where=text("state IN ('queued', 'scheduled')"),
              sqlite_where=text("state IN ('queued', 'scheduled')")),
        Index("ix_reply_state", "state"),
    )

    id: Mapped[str] = id_column("rpl")
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversation.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # reply | start | handover | auto_reply
    author_id: Mapped[str | None] = mapped_column(ForeignKey("user.id"))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    findings: Mapped[list] = mapped_column(JSON, default=list)
    not_before: Mapped[datetime | None]
    reviewer_id: Mapped[str | None] = mapped_column(ForeignKey("user.id"))
    reviewed_at: Mapped[datetime | None]
    review_comment: Mapped[str | None] = mapped_column(Text)
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    error_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    slot_at: Mapped[datetime | None]  # its send slot on the sender's timeline (rate limits, invariant 6)
    claimed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = created_at_column()
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]


class AgentStatus(Base):
    """Whether an agent takes new conversations, and when they last got one (round-robin)."""

    __tablename__ = "agent_status"

    user_id: Mapped[str] = mapped_column(ForeignKey("user.id"), primary_key=True)
    available: Mapped[bool] = mapped_column(default=False)
    last_assigned_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = created_at_column()


class ConversationEvent(Base):
    """What the inbox stream sends: new inbound messages, replies, assignments, state changes.
    The increasing id is the stream's Last-Event-ID."""

    __tablename__ = "conversation_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(24))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = created_at_column()
