from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.audience import attributes as attribute_rules
from app.types import Timestamp
from app.vocab.audience import ConsentSource, SubscriptionState


class ListIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    opt_in: Literal["single", "double"]
    sender_id: str | None = Field(default=None, description="the list's default verified sender; required for double opt-in")
    confirmation_text: str | None = Field(default=None, min_length=1, max_length=640)


class ListOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    opt_in: str
    sender_id: str | None
    confirmation_text: str | None
    confirmation_approved_at: datetime | None = Field(
        default=None, description="a list's own confirmation text is sent only once approved by a reviewer")
    confirmation_approved_by_id: str | None = None
    created_at: datetime
    counts: dict[str, int] = Field(default_factory=dict, description="subscriptions by state")


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: ConsentSource
    evidence: str = Field(min_length=1, max_length=10_000, description="the disclosure text shown, or the form URL")
    consented_at: Timestamp
    ip: str | None = Field(default=None, max_length=64)


class _Renderable(BaseModel):
    """A subscriber's first name and attributes, held to the rules of what may be rendered into a text."""

    model_config = ConfigDict(extra="forbid")

    first_name: str | None = Field(default=None, max_length=200)
    attributes: dict[str, Any] | None = None
    time_zone: str | None = Field(default=None, max_length=64)

    @field_validator("first_name")
    @classmethod
    def _renderable_name(cls, value: str | None) -> str | None:
        return None if value is None else attribute_rules.check_text("first_name", value)

    @field_validator("attributes")
    @classmethod
    def _renderable_attributes(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else attribute_rules.check_attributes(value)


class SubscriberIn(_Renderable):
    phone: str = Field(min_length=3, max_length=40)
    consent: ConsentIn


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    list_id: str
    state: SubscriptionState
    consent_event_id: str | None
    created_at: datetime
    updated_at: datetime


class ConsentEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    channel: str
    list_id: str | None
    evidence: str | None
    consented_at: datetime
    recorded_at: datetime
    ip: str | None
    inbound_sid: str | None


class SubscriberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    phone: str
    first_name: str | None
    attributes: dict[str, Any]
    time_zone: str
    opted_out_at: datetime | None
    erased_at: datetime | None
    created_at: datetime


class SubscriberDetailOut(SubscriberOut):
    subscriptions: list[SubscriptionOut]
    consent_history: list[ConsentEventOut]
    suppressed: bool


class SubscriberPatch(_Renderable):
    """Only the fields given change. ``attributes`` is merged into the stored ones (a key set to null
    is removed); ``first_name`` null clears it; ``time_zone`` (an IANA name) null goes back to the
    zones derived from the number."""

    @field_validator("attributes", mode="before")
    @classmethod
    def _attributes_not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("attributes cannot be null; send the keys to change (a key set to null is removed)")
        return value


class MemberOut(SubscriberOut):
    """A subscriber on a list, with that subscription."""

    subscription: SubscriptionOut


class AddedOut(BaseModel):
    subscriber: SubscriberOut
    subscription: SubscriptionOut
    changed: bool


class ImportOut(BaseModel):
    accepted: int
    created: int
    unchanged: int
    rejected_count: int
    rejected: list[dict[str, Any]]
    rejected_truncated: bool
