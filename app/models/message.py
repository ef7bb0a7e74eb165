"""Campaign messages (the queue) and provider status callbacks (append-only)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, created_at_column

#: A big integer key (an integer on SQLite, where only INTEGER PRIMARY KEY auto-increments):
#: keyset claims walk it in order.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Message(Base):
    """One message per (campaign, subscriber) — unique in the schema (DESIGN.md invariant 5).

    ``consent_event_id`` points at the consent that permits it (invariant 2).
    """

    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("campaign_id", "subscriber_id"),
        Index("ix_message_campaign_state", "campaign_id", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaign.id"))
    subscriber_id: Mapped[str] = mapped_column(ForeignKey("subscriber.id"), index=True)
    consent_event_id: Mapped[str | None] = mapped_column(ForeignKey("consent_event.id"))
    to: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(16), default="queued")
    skip_reason: Mapped[str | None] = mapped_column(String(200))
    error_code: Mapped[int | None] = mapped_column(Integer)
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
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
