"""Saved audience filters (app/targeting): a name and a normalised filter, never changed once made."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, created_at_column, id_column


class Segment(Base):
    """``filter`` is the normal form of ``app.targeting.filters``. A segment is not edited: a campaign
    copies its filter when it is created or edited, and the approval binds to that copy."""

    __tablename__ = "segment"

    id: Mapped[str] = id_column("seg")
    name: Mapped[str] = mapped_column(String(200))
    filter: Mapped[dict] = mapped_column(JSON)
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = created_at_column()
