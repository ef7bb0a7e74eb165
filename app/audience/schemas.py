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
    # Self sign-up (docs/api.md, "Sign-up"): join keywords on the list's sender, the form at /join/{slug},
    # and the disclosure's parts. Fixed at creation, like the confirmation text built from them.
    keywords: list[str] = Field(default_factory=list, max_length=10,
                                description="join keywords texted to the list's sender (JOIN, VIP, …); unique per sender")
    slug: str | None = Field(default=None, pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$",
                             description="the sign-up form's address: /join/{slug} (a double opt-in list only)")
    brand: str | None = Field(default=None, min_length=1, max_length=100)
    purpose: str | None = Field(default=None, min_length=1, max_length=200,
                                description="what the messages are, e.g. 'weekly deals from Acme Shoes'")
    frequency: str | None = Field(default=None, min_length=1, max_length=100, description="e.g. 'Up to 4 msgs/month'")
    terms_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://[^\s<>\"']+$")
    privacy_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://[^\s<>\"']+$")

    @field_validator("brand", "purpose", "frequency")
    @classmethod
    def _one_plain_line(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or any(c in value for c in "\r\n<>")):
            raise ValueError("must be one line of plain text (no line breaks or angle brackets)")
        return None if value is None else value.strip()

    def signup(self) -> dict[str, Any]:
        return {"keywords": self.keywords, "slug": self.slug, "brand": self.brand, "purpose": self.purpose,
                "frequency": self.frequency, "terms_url": self.terms_url, "privacy_url": self.privacy_url}


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
    keywords: list[str] = Field(default_factory=list, description="join keywords on the list's sender")
    slug: str | None = None
    brand: str | None = None
    purpose: str | None = None
    frequency: str | None = None
    terms_url: str | None = None
    privacy_url: str | None = None


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
    user_agent: str | None = None
    page_url: str | None = None
    disclosure_id: str | None = Field(default=None, description="the form's disclosure version: GET /v1/disclosures/{id}")


class DisclosureOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="the SHA-256 of text")
    list_id: str
    text: str
    created_at: datetime


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
