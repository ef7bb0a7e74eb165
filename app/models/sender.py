from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, created_at_column, id_column
from app.vocab.sender import SenderState


class Sender(Base):
    """A company sender: the only thing a message may leave from (docs/design.md, invariant 1).

    ``state`` (a ``SenderState``) changes only through ``app.senders.service._move``, checked against
    the table in ``app.senders.lifecycle``; every change is audited.
    """

    __tablename__ = "sender"

    id: Mapped[str] = id_column("snd")
    kind: Mapped[str] = mapped_column(String(24))
    address: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200))
    mps: Mapped[int] = mapped_column(Integer)
    mps_overridden: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(16), default=SenderState.PENDING.value, index=True)
    state_reason: Mapped[str | None] = mapped_column(String(500))
    pool: Mapped[list[str]] = mapped_column(JSON, default=list)
    provider_sid: Mapped[str | None] = mapped_column(String(64))
    registered_by_id: Mapped[str | None] = mapped_column(ForeignKey("user.id"))
    confirmed_by_id: Mapped[str | None] = mapped_column(ForeignKey("user.id"))
    assigned_to_id: Mapped[str | None] = mapped_column(ForeignKey("user.id"), index=True)
    created_at: Mapped[datetime] = created_at_column()
    verified_at: Mapped[datetime | None]
    last_checked_at: Mapped[datetime | None]
    suspended_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    #: The carriers' verdict at the last check (app/providers/registration.py): status, reason, action,
    #: and the limits it sets. None where registration does not apply (or was never checked).
    registration: Mapped[dict | None] = mapped_column(JSON)
    #: Messages per day the registration allows (e.g. a brand's T-Mobile allowance), across workers.
    daily_cap: Mapped[int | None] = mapped_column(Integer)

    @hybrid_property
    def is_verified(self) -> bool:
        """May a message leave from this sender (invariant 1)? The one test, everywhere: in Python
        (``sender.is_verified``) and in a query (``where(Sender.is_verified)``)."""
        return self.state == SenderState.VERIFIED
