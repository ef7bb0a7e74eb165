from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, created_at_column, id_column


class ApiKey(Base):
    """An API key, stored as its SHA-256 (the key is 256 random bits, so no slow hash is needed).

    ``prefix`` is the visible start of the key, for recognising it in lists and logs.
    """

    __tablename__ = "api_key"

    id: Mapped[str] = id_column("key")
    user_id: Mapped[str] = mapped_column(ForeignKey("user.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = created_at_column()
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="api_keys", lazy="raise")  # noqa: F821
