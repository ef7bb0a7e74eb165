from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.types import Timestamp
from app.vocab.campaign import CampaignState
from app.vocab.message import MessageState


class Rollout(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_slice_percent: float = Field(gt=0, lt=100, description="share of the audience sent first")
    observe_minutes: int = Field(ge=1, le=7 * 24 * 60, description="how long the first slice is watched")


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    sender_id: str = Field(min_length=1, max_length=40)
    list_ids: list[str] = Field(min_length=1, max_length=50)
    body: str = Field(min_length=1, max_length=1600)
    scheduled_at: Timestamp | None = None
    rollout: Rollout | None = None
    spike_policy: Literal["pause", "alert_only"] = "pause"
    transactional: bool = Field(default=False, description="exempt from the company's frequency cap (not "
                                "marketing: an order or account update); reviewed and bound by the approval")
    segment_id: str | None = Field(default=None, max_length=40, description="a saved segment's filter narrows the lists")
    filter: Any = Field(default=None, description="an inline audience filter (docs/api.md, \"Segments\"); "
                        "not with segment_id")


class CampaignPatch(BaseModel):
    """Only the fields given change; ``scheduled_at`` and ``rollout`` may be set to null to clear them."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_null_for_required(cls, data):
        if isinstance(data, dict):
            for name in ("name", "sender_id", "list_ids", "body", "spike_policy", "transactional"):
                if name in data and data[name] is None:
                    raise ValueError(f"{name} cannot be null; leave it out to keep it")
        return data

    name: str | None = Field(default=None, min_length=1, max_length=200)
    sender_id: str | None = Field(default=None, min_length=1, max_length=40)
    list_ids: list[str] | None = Field(default=None, min_length=1, max_length=50)
    body: str | None = Field(default=None, min_length=1, max_length=1600)
    scheduled_at: Timestamp | None = None
    rollout: Rollout | None = None
    spike_policy: Literal["pause", "alert_only"] | None = None
    transactional: bool | None = None
    segment_id: str | None = Field(default=None, max_length=40)
    filter: Any = Field(default=None, description="null (with segment_id null or left out) sends to the whole lists")


class FindingOut(BaseModel):
    code: str
    severity: Literal["block", "warn"]
    message: str
    span: list[int] | None


class PlaceholderOut(BaseModel):
    name: str
    distinct_values: str = Field(description="how many distinct values it takes in the audience")
    reviewed: Literal["by value", "by rule"] = Field(
        description="by value: each value is shown and checked below, and the approval binds to them; "
                    "by rule: too many to read, so each must be plain text (no link, address or number)")
    examples: list[str]


class VariantOut(BaseModel):
    placeholder: str | None = Field(description="the placeholder this text shows a value of; null: every "
                                                "placeholder at its longest value")
    value: str | None
    recipients: int | None
    text: str


class CheckOut(BaseModel):
    findings: list[FindingOut]
    blocking: bool
    full_body: str
    sent_body: str = Field(description="the body as it is counted and sent: with FINELINE_LINK_DOMAIN set, each URL "
                                       "as a tracked link of the same length (<domain>/xxxxxxxxxxxxxxxx)")
    tracked_links: list[str] = Field(default_factory=list, description="the destinations the tracked links lead "
                                     "to (the reviewed URLs); empty when links are not tracked")
    segments: int
    encoding: str
    audience: int
    estimated_segments_total: int
    samples: list[dict]
    placeholders: list[PlaceholderOut] = Field(default_factory=list)
    variants: list[VariantOut] = Field(default_factory=list, description="the distinct texts the audience "
                                       "will receive, each through the content checks")


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "request_changes"]
    comment: str = Field(default="", max_length=2000)


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str | None = Field(default=None, max_length=2000)


class TestSendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: list[str] = Field(min_length=1, max_length=10)


class TestNumberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(min_length=3, max_length=40)
    sender_id: str | None = Field(default=None, max_length=40,
                                  description="the verified company sender the code leaves from (default: the first)")


class TestCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^\s*\d{6}\s*$", description="the six-digit code texted to the number")


class TestNumberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    phone: str
    created_at: datetime
    verified_at: datetime | None = Field(description="set once the code came back; test sends need it")
    code_sent_at: datetime | None


class ConfirmationReviewOut(BaseModel):
    list_id: str
    confirmation_text: str | None
    findings: list[dict]
    blocking: bool
    approved_at: datetime | None
    approved_by_id: str | None


class ReviewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    reviewer_id: str
    decision: str
    comment: str
    content_hash: str
    findings: list[dict]
    audience_size: int
    created_at: datetime


class CampaignOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    author_id: str
    owner_id: str | None
    sender_id: str
    list_ids: list[str]
    body: str
    scheduled_at: datetime | None
    rollout: dict | None
    spike_policy: str
    transactional: bool
    segment_id: str | None = None
    filter: dict | None = Field(default=None, description="the audience filter in its normal form (from "
                                "segment_id, or inline); null: the whole of the lists")
    state: CampaignState
    state_reason: str | None
    paused_by_guard: bool = Field(default=False, description="paused by the unsubscribe-spike guard: only ops resume it "
                                  "(with a comment); any other pause is resumed by the campaign's owner")
    approved_by_id: str | None
    approved_at: datetime | None
    created_at: datetime
    updated_at: datetime
    launched_at: datetime | None
    counts: dict[str, float | int] = Field(default_factory=dict)
    test_sends: int = 0


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    subscriber_id: str
    to: str
    state: MessageState
    skip_reason: str | None
    error_code: int | None
    provider_sid: str | None
    held: bool
    sent_at: datetime | None
    delivered_at: datetime | None
    opted_out_at: datetime | None
