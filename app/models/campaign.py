"""Campaigns, the lists they go to, review decisions, test sends and employees' test numbers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, created_at_column, id_column
from app.vocab.campaign import CampaignState


class Campaign(Base):
    """``state`` (a ``CampaignState``) changes only through ``app.campaigns.service.move``, checked
    against the table in ``app.campaigns.lifecycle`` and audited."""

    __tablename__ = "campaign"

    id: Mapped[str] = id_column("cmp")
    name: Mapped[str] = mapped_column(String(200))
    author_id: Mapped[str] = mapped_column(ForeignKey("user.id"), index=True)
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("user.id"), index=True)
    sender_id: Mapped[str] = mapped_column(ForeignKey("sender.id"), index=True)
    body: Mapped[str] = mapped_column(Text)
    scheduled_at: Mapped[datetime | None]
    rollout: Mapped[dict | None] = mapped_column(JSON)
    spike_policy: Mapped[str] = mapped_column(String(16), default="pause")
    # Exempt from the company's frequency cap (an order update, not marketing); part of what the
    # approval binds (content_hash), so flipping it after approval voids the review.
    transactional: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The audience filter (app/targeting), normalised: the campaign's own copy, from ``segment_id`` or
    # given inline; NULL sends to the whole of the lists. The approval hash covers it.
    segment_id: Mapped[str | None] = mapped_column(ForeignKey("segment.id"))
    audience_filter: Mapped[dict | None] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(20), default=CampaignState.DRAFT.value, index=True)
    state_reason: Mapped[str | None] = mapped_column(String(500))
    approved_hash: Mapped[str | None] = mapped_column(String(64))
    # What each placeholder was reviewed as (app/campaigns/variants.py): its values, or the plain rule.
    approved_values: Mapped[dict | None] = mapped_column(JSON)
    approved_by_id: Mapped[str | None] = mapped_column(ForeignKey("user.id"))
    approved_at: Mapped[datetime | None]
    oops_warned: Mapped[bool] = mapped_column(default=False)
    paused_by_guard: Mapped[bool] = mapped_column(default=False)
    # Counters kept as events arrive, so the spike guard judges in microseconds, not by counting.
    delivered_count: Mapped[int] = mapped_column(Integer, default=0)
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    opt_out_count: Mapped[int] = mapped_column(Integer, default=0)
    canary_released_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = created_at_column()
    launched_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


class CampaignList(Base):
    __tablename__ = "campaign_list"

    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaign.id"), primary_key=True)
    list_id: Mapped[str] = mapped_column(ForeignKey("subscriber_list.id"), primary_key=True)


class Review(Base):
    """A reviewer's decision, bound to the content hash it was made on. Append-only."""

    __tablename__ = "review"

    id: Mapped[str] = id_column("rev")
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaign.id"), index=True)
    reviewer_id: Mapped[str] = mapped_column(ForeignKey("user.id"))
    decision: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    findings: Mapped[list] = mapped_column(JSON, default=list)
    audience_size: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = created_at_column()


class TestNumber(Base):
    """An employee's own phone for test sends ("seed list"). Never a subscriber.

    It receives test sends only once ``verified_at`` is set: a one-time code was sent to the number
    and typed back by the employee. The code is kept only as a salted hash, expires, and allows a
    few attempts."""

    __tablename__ = "test_number"
    __table_args__ = (UniqueConstraint("user_id", "phone"),)

    id: Mapped[str] = id_column("tst")
    user_id: Mapped[str] = mapped_column(ForeignKey("user.id"), index=True)
    phone: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = created_at_column()
    verified_at: Mapped[datetime | None]
    code_hash: Mapped[str | None] = mapped_column(String(64))
    code_sent_at: Mapped[datetime | None]
    code_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class TestSend(Base):
    __tablename__ = "test_send"

    id: Mapped[str] = id_column("tsd")
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaign.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("user.id"))
    to: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    provider_sid: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()
