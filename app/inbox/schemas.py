from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.campaigns.schemas import FindingOut
from app.types import Timestamp
from app.vocab.conversation import ReplyState


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=1600)


class ConversationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sender_id: str = Field(min_length=1, max_length=40)
    phone: str = Field(min_length=3, max_length=40)
    body: str = Field(min_length=1, max_length=1600)


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str | None = Field(max_length=40, description="the agent; null puts it back in the queue")


class SnoozeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    until: Timestamp


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str | None = Field(default=None, max_length=2000)


class AvailabilityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    available: bool


class AvailabilityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: str
    available: bool
    last_assigned_at: datetime | None


class ReplyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    conversation_id: str
    purpose: str
    author_id: str | None
    body: str
    state: str
    findings: list[FindingOut]
    scheduled_for: datetime | None = Field(default=None, description="when a scheduled reply will go")
    reviewer_id: str | None
    reviewed_at: datetime | None
    review_comment: str | None
    provider_sid: str | None
    error_code: int | None
    error: str | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None

    @classmethod
    def of(cls, reply) -> ReplyOut:
        out = cls.model_validate(reply)
        out.scheduled_for = reply.not_before if reply.state == ReplyState.SCHEDULED else None
        return out


class ConversationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    sender_id: str
    phone: str
    state: str
    assignee_id: str | None
    snoozed_until: datetime | None
    opened_at: datetime
    waiting_since: datetime | None
    last_inbound_at: datetime | None
    last_reply_at: datetime | None
    last_activity_at: datetime
    resolved_at: datetime | None
    created_at: datetime


class ThreadItem(BaseModel):
    kind: str = Field(description="inbound | campaign | reply")
    at: datetime
    id: str
    body: str
    classification: str | None = None
    media: list[dict[str, str]] = Field(default_factory=list, description="links reported by Twilio; never fetched")
    campaign_id: str | None = None
    campaign_name: str | None = None
    state: str | None = None
    reply: ReplyOut | None = None


class ConversationDetail(ConversationOut):
    opted_out: bool
    reply_window_open_until: datetime | None
    messages: list[ThreadItem]


class StartedOut(BaseModel):
    conversation: ConversationOut
    reply: ReplyOut


class DraftCheckOut(BaseModel):
    findings: list[FindingOut]
    held: bool = Field(description="true when the reply would wait for a reviewer")
    refused: dict | None = Field(description="the consent rule that would refuse it: {rule, message}")
    sender_verified: bool
    send_at: datetime = Field(description="when it would land (later than now inside the customer's quiet hours)")


class StatsOut(BaseModel):
    open: int
    unassigned: int
    oldest_waiting_since: datetime | None
    oldest_waiting_seconds: float | None
    window_hours: float
    median_first_response_seconds: float | None
    median_resolution_seconds: float | None
