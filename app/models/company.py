"""The company's own settings, edited by an admin through ``PUT /v1/settings`` (audited)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base

#: The one row's key: a company has one set of settings.
COMPANY_ROW = 1


class CompanySettings(Base):
    """At most one row. Until an admin saves settings, the environment's defaults apply
    (``FINELINE_FREQUENCY_CAP_MESSAGES``, ``FINELINE_FREQUENCY_CAP_HOURS``)."""

    __tablename__ = "company_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # At most this many marketing messages per phone number in any window of this many hours; 0: no cap.
    frequency_cap_messages: Mapped[int] = mapped_column(Integer)
    frequency_cap_hours: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime]
    updated_by_id: Mapped[str | None] = mapped_column(ForeignKey("user.id"))
