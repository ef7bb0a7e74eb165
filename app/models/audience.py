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
    # Self sign-up (keywords on the sender, the web form at /join/{slug}): the disclosure's parts, fixed
    # at creation like the confirmation text. ``brand`` set means the list takes sign-ups.
    slug: Mapped[str | None] = mapped_column(String(64), unique=True)
    brand: Mapped[str | None] = mapped_column(String(100))
    purpose: Mapped[str | None] = mapped_column(String(200))
    frequency: Mapped[str | None] = mapped_column(String(100))
    terms_url: Mapped[str | None] = mapped_column(String(500))
    privacy_url: Mapped[str | None] = mapped_column(String(500))


class ListKeyword(Base):
    """A join keyword (``JOIN``, ``VIP``, …) texted to the list's sender; unique per sender."""

    __tablename__ = "list_keyword"
    __table_args__ = (UniqueConstraint("sender_id", "keyword"),)

    id: Mapped[str] = id_column("kwd")
    list_id: Mapped[str] = mapped_column(ForeignKey("subscriber_list.id"), index=True)
    sender_id: Mapped[str] = mapped_column(ForeignKey("sender.id"))
    keyword: Mapped[str] = mapped_column(String(20))  # normalised: lower case
    created_at: Mapped[datetime] = created_at_column()


class Disclosure(Base):
    """The exact disclosure text a sign-up form showed, by its SHA-256. Append-only: a consent event
    names the version (``disclosure_id``) its person agreed to."""

    __tablename__ = "disclosure"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of ``text``
    list_id: Mapped[str] = mapped_column(ForeignKey("subscriber_list.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()


class SignupLimit(Base):
    """A fixed-window counter for the sign-up rate limits (per IP, per number, keyword confirmations)."""

    __tablename__ = "signup_limit"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime]
    hits: Mapped[int]


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
    # A web-form sign-up's proof beside ``ip``: the browser, the page and the disclosure version shown.
    user_agent: Mapped[str | None] = mapped_column(String(500))
    page_url: Mapped[str | None] = mapped_column(String(1000))
    disclosure_id: Mapped[str | None] = mapped_column(String(64))  # Disclosure.id (not a foreign key: append-only)


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
    not_before: Mapped[datetime | None]  # its send slot is further off, or the sender's daily cap is used up
    slot_at: Mapped[datetime | None]  # its send slot on the sender's timeline (rate limits, invariant 6)
