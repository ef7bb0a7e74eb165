"""Campaign messages (the queue) and provider status callbacks (append-only)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, created_at_column
from app.vocab.message import MessageState as S

#: A big integer key (an integer on SQLite, where only INTEGER PRIMARY KEY auto-increments):
#: keyset claims walk it in order.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Message(Base):
    """One message per (campaign, subscriber) — unique in the schema (docs/design.md, invariant 5).

    ``consent_event_id`` points at the consent that permits it (invariant 2).
    """

    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("campaign_id", "subscriber_id"),
        Index("ix_message_campaign_state", "campaign_id", "state"),
        # A campaign's messages in id order: a page of GET /v1/campaigns/{id}/messages walks its own
        # rows, not the campaigns before it nor the whole campaign to sort it (tests/test_hot_plans.py).
        Index("ix_message_campaign_id", "campaign_id", "id"),
        # Only the queued rows, per campaign in id order: the claim (campaign = ?, id > cursor, by id,
        # LIMIT n) walks this and nothing already processed, and no other index can look cheaper to
        # a planner without statistics (one that finds the campaign's queued rows and sorts them all
        # read the whole queue per claim: tests/test_hot_plans.py).
        Index("ix_message_queued", "campaign_id", "id", postgresql_where=text(f"state = '{S.QUEUED}' AND NOT held"),
              sqlite_where=text(f"state = '{S.QUEUED}' AND NOT held")),
        Index("ix_message_to_sent", "to", "sent_at"),
        Index("ix_message_leased", "lease_expires_at", postgresql_where=text(f"state IN ('{S.SENDING}', '{S.UNKNOWN}')"),
              sqlite_where=text(f"state IN ('{S.SENDING}', '{S.UNKNOWN}')")),
        # The frequency cap's contacts (app/dispatch/frequency.py): a number's marketing messages that
        # took a place under the cap, newest last. Only those rows: a materialised queue adds nothing.
        Index("ix_message_contacted", "to", "contacted_at", postgresql_where=text("contacted_at IS NOT NULL"),
              sqlite_where=text("contacted_at IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaign.id"))
    subscriber_id: Mapped[str] = mapped_column(ForeignKey("subscriber.id"), index=True)
    consent_event_id: Mapped[str | None] = mapped_column(ForeignKey("consent_event.id"))
    to: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(16), default=S.QUEUED.value)
    skip_reason: Mapped[str | None] = mapped_column(String(200))
    error_code: Mapped[int | None] = mapped_column(Integer)
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime | None]  # quiet hours or back-off: not claimed before this
    held: Mapped[bool] = mapped_column(default=False)  # canary: the rest waits for the first slice's verdict
    # Canary: held at launch behind the first slice (kept after the release, so the report can tell them apart).
    canary_rest: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    # The billing parts of the body as it was sent (app/campaigns/segments.py); null until sent.
    segments: Mapped[int | None] = mapped_column(SmallInteger)
    opted_out_at: Mapped[datetime | None]  # the recipient's opt-out was attributed to this message
    # A marketing message's place under the company's frequency cap, taken right before sending (in
    # the transaction of the re-check) and given back if the message goes back to the queue or is
    # skipped; NULL for a transactional campaign's messages, which the cap exempts.
    contacted_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]


class StatusCallback(Base):
    """Every status callback, stored once per (MessageSid, status) before it acts. Append-only."""

    __tablename__ = "status_callback"
    __table_args__ = (UniqueConstraint("message_sid", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_sid: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20))
    error_code: Mapped[int | None] = mapped_column(Integer)
    message_id: Mapped[int | None] = mapped_column(BigId)
    known: Mapped[bool] = mapped_column(default=False)
    received_at: Mapped[datetime] = created_at_column()


class StatusCallbackPending(Base):
    """A stored status callback not yet applied: written in the same transaction as the callback,
    deleted in the same transaction as its application (so each is applied exactly once)."""

    __tablename__ = "status_callback_pending"

    callback_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)


class SenderRate(Base):
    """Per-sender send slots shared by every worker: the next free instant on the sender's clock.

    A worker reserves ``k`` consecutive slots ``1/mps`` apart in one atomic UPDATE, so slots never
    overlap across workers and no sender exceeds its MPS (docs/design.md, invariant 6).
    """

    __tablename__ = "sender_rate"

    sender_id: Mapped[str] = mapped_column(ForeignKey("sender.id"), primary_key=True)
    next_at: Mapped[float] = mapped_column(Float)  # seconds since the epoch, database clock


class SenderQuota(Base):
    """Messages a sender with a daily cap (its carrier registration's) has used on one carrier day.

    Taken under the row's lock by every worker (``app.dispatch.throttle.take_daily``), so the cap holds
    across workers as the MPS does; what is left over waits for the next day."""

    __tablename__ = "sender_quota"

    sender_id: Mapped[str] = mapped_column(ForeignKey("sender.id"), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, Pacific time
    used: Mapped[int] = mapped_column(Integer, default=0)


class ContactLedger(Base):
    """One row per phone number that a marketing message was about to go to: the lock that
    serialises the frequency cap's re-check of that number across workers and campaigns
    (``app.dispatch.frequency.reserve`` takes it with an upsert, in phone order, inside the
    transaction that re-checks the batch). Its contacts are the messages' ``contacted_at``."""

    __tablename__ = "contact_ledger"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    last_checked_at: Mapped[datetime]
