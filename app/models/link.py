"""First-party tracked links (``FINELINE_LINK_DOMAIN``) and their clicks.

A ``link`` row is made at send time for each URL of each recipient's message, in the same
transaction as the send record; its ``token`` (random, >= 64 bits) is the path on the link domain and
the only key a click is resolved by. ``link_click`` is written asynchronously by the redirect route
(``app.links.clicks``), one row per request; ``kind`` separates people from previewers
(``app.vocab.link.ClickKind``). The campaign report counts ``human`` clicks unique per subscriber and
all clicks raw; segments read ``(subscriber_id, clicked_at)``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, created_at_column
from app.models.message import BigId


class Link(Base):
    """One tracked URL in one recipient's message: ``token`` → ``destination`` until ``expires_at``."""

    __tablename__ = "link"

    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaign.id"))
    message_id: Mapped[int] = mapped_column(BigId, ForeignKey("message.id"), index=True)
    subscriber_id: Mapped[str] = mapped_column(ForeignKey("subscriber.id"))
    position: Mapped[int] = mapped_column(SmallInteger)  # the URL's place in the body, from 0
    destination: Mapped[str] = mapped_column(Text)  # the reviewed URL, as approved
    created_at: Mapped[datetime] = created_at_column()  # the send time
    expires_at: Mapped[datetime]


class LinkClick(Base):
    """One request for a known token. ``ip`` is only a truncated network (/24, /48), never an address."""

    __tablename__ = "link_click"
    __table_args__ = (
        Index("ix_link_click_campaign_kind", "campaign_id", "kind", "subscriber_id"),
        Index("ix_link_click_subscriber_at", "subscriber_id", "clicked_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token: Mapped[str] = mapped_column(String(32), index=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaign.id"))
    message_id: Mapped[int] = mapped_column(BigId, ForeignKey("message.id"))
    subscriber_id: Mapped[str] = mapped_column(ForeignKey("subscriber.id"))
    position: Mapped[int] = mapped_column(SmallInteger)
    clicked_at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(8))  # ClickKind: human | bot
    bot_reason: Mapped[str | None] = mapped_column(String(40))  # the previewer matched, or "near_delivery"
    user_agent: Mapped[str | None] = mapped_column(String(512))
    ip: Mapped[str | None] = mapped_column(String(64))  # "203.0.113.0/24", "2001:db8:1::/48"
