from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, created_at_column, id_column


class User(Base):
    """An employee. Offboarding sets ``offboarded_at``; the row stays for the audit trail."""

    __tablename__ = "user"

    id: Mapped[str] = id_column("usr")
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = created_at_column()
    offboarded_at: Mapped[datetime | None]

    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="user", lazy="raise")  # noqa: F821

    @property
    def active(self) -> bool:
        return self.offboarded_at is None

    def has_any(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)
