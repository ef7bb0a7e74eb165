"""The audience: lists, subscribers, subscriptions, the consent ledger, suppression, inbound SMS."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, created_at_column, id_column
from app.vocab.message import MessageState


class SubscriberList(Base):
    __tablename__ = "subscriber_list"

    id: Mapped[str] = id_column("lst")
    name: Mapped[str] = mapped_column(String(200))
    opt_in: Mapped[str] = mapped_column(String(8))  # single | double
    sender_id: Mapped[str | None] = mapped_column(ForeignKey("sender.id"))
    confirmation_text: Mapped[str | None] = mapped_column(Text)  # fixed at creation; None: the standard text
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = created_at_column()
    # A list's own confirmation text is sent only once a reviewer other than its author approved it.
    confirmation_approved_by_id: Mapped[str | None] = mapped_column(ForeignKey("user.id"))
    confirmation_approved_at: Mapped[datetime | None]


class Subscriber(Base):
    """A person, by phone number (unique for the company). Erasure blanks the personal data."""

    __tablename__ = "subscriber"

    id: Mapped[str] = id_column("sub")
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    first_name: Mapped[str | None] = mapped_column(String(200))
    attributes: Mapped[dict] = mapped_column(JSON, default=dict)
    time_zone: Mapped[str] = mapped_column(String(64))
    time_zones: Mapped[list[str]] = mapped_column(JSON, default=list)
    us_state: Mapped[str | None] = mapped_column(String(2))
    opted_out_at: Mapped[datetime | None]
    invalid_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at_column()
    erased_at: Mapped[datetime | None]


class Subscription(Base):
    """A subscriber on a list; ``state`` is a ``SubscriptionState``."""

    __tablename__ = "subscription"
    __table_args__ = (
        UniqueConstraint("list_id", "subscriber_id"),
        # subscriber_id last: a lookup of given subscribers on a list is an exact probe whichever
        # index the planner picks, never a walk of the list (docs/performance.md, "statistics").
        Index("ix_subscription_list_state", "list_id", "state", "subscriber_id"),
    )

    id: Mapped[str] = id_column("sbn")
    list_id: Mapped[str] = mapped_column(ForeignKey("subscriber_list.id"))
    subscriber_id: Mapped[str] = mapped_column(ForeignKey("subscriber.id"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    consent_event_id: Mapped[str | None] = mapped_column(ForeignKey("consent_event.id"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = created_at_column()


class ConsentEvent(Base):
    """The consent ledger. Append-only (database triggers): the proof of every consent is kept."""

    __tablename__ = "consent_event"

    id: Mapped[str] = id_column("cev")
    subscriber_id: Mapped[str] = mapped_column(ForeignKey("subscriber.id"), index=True)
    list_id: Mapped[str | None] = mapped_column(ForeignKey("subscriber_list.id"))
    kind: Mapped[str] = mapped_column(String(16))  # opt_in | confirm | opt_out | opt_back_in
    channel: Mapped[str] = mapped_column(String(16))  # web_form | keyword | paper | import | api | sms | provider
    evidence: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str] = mapped_column(String(20))
    consented_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = created_at_column()
    ip: Mapped[str | None] = mapped_column(String(64))
    inbound_sid: Mapped[str | None] = mapped_column(String(64))
    actor_id: Mapped[str | None] = mapped_column(ForeignKey("user.id"))


class Suppression(Base):
    """Numbers that must not be messaged, kept even when the subscriber is erased. A row is lifted only
    by a new explicit opt-in (the subscriber texting START, or new consent with evidence)."""

    __tablename__ = "suppression"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200))
    opted_out_at: Mapped[datetime]
    lifted_at: Mapped[datetime | None]


class InboundMessage(Base):
    """Every inbound SMS, stored once by its MessageSid before anything acts on it. Append-only."""

    __tablename__ = "inbound_message"
    __table_args__ = (Index("ix_inbound_message_from_phone", "from_phone", "received_at"),)  # a conversation's thread

    id: Mapped[str] = id_column("inb")
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_phone: Mapped[str] = mapped_column(String(32))
    to: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    classification: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = created_at_column()
    params: Mapped[dict] = mapped_column(JSON, default=dict)


class OutboundText(Base):
    """A non-campaign text Fineline owes someone (a double opt-in confirmation), sent by the worker.

    ``state`` is a ``MessageState`` (queued → sending → sent, or skipped, failed, unknown)."""

    __tablename__ = "outbound_text"

    id: Mapped[str] = id_column("otx")
    purpose: Mapped[str] = mapped_column(String(24))
    sender_id: Mapped[str] = mapped_column(ForeignKey("sender.id"))
    subscriber_id: Mapped[str] = mapped_column(ForeignKey("subscriber.id"))
    to: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=MessageState.QUEUED.value, index=True)
    provider_sid: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = created_at_column()
    sent_at: Mapped[datetime | None]
