from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, created_at_column, id_column
from app.vocab.alert import AlertState


class Alert(Base):
    """An alert for ops: open → acknowledged → resolved. At most one unresolved alert per campaign
    (or sender) and kind, enforced by a partial unique index."""

    __tablename__ = "alert"
    __table_args__ = (
        Index("uq_alert_unresolved", "kind", "campaign_id", "sender_id", unique=True,
              postgresql_where=text(f"state != '{AlertState.RESOLVED}'"),
              sqlite_where=text(f"state != '{AlertState.RESOLVED}'")),
    )

    id: Mapped[str] = id_column("alr")
    kind: Mapped[str] = mapped_column(String(32))
    campaign_id: Mapped[str] = mapped_column(String(40), default="")  # "" when not about a campaign
    sender_id: Mapped[str] = mapped_column(String(40), default="")
    state: Mapped[str] = mapped_column(String(16), default=AlertState.OPEN.value, index=True)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    action: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = created_at_column()
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[str | None] = mapped_column(ForeignKey("user.id"))
    resolved_at: Mapped[datetime | None]
    resolved_by_id: Mapped[str | None] = mapped_column(ForeignKey("user.id"))
    comment: Mapped[str | None] = mapped_column(Text)
    notify_state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed | off
    notify_attempts: Mapped[int] = mapped_column(Integer, default=0)
    notify_next_at: Mapped[datetime | None]
