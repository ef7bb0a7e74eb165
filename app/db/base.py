"""Declarative base with a naming convention, and the column types every table shares."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData, String, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


_last = [0, 0]  # (milliseconds, random part) of the last id made in this process


def new_id(prefix: str) -> str:
    """An opaque, time-ordered id such as ``usr_01jd3…``: 48 bits of milliseconds, 80 random.

    Ordering by id is ordering by creation, which keyset pagination relies on. Within one
    millisecond ids of one process keep increasing (the random part is incremented, as monotonic
    ULIDs do), so two events recorded together keep their order.
    """
    millis = int(time.time() * 1000)
    if millis <= _last[0]:
        millis, rand = _last[0], _last[1] + 1
    else:
        rand = int.from_bytes(os.urandom(10), "big") >> 1  # room to increment
    _last[0], _last[1] = millis, rand
    value = (millis << 80) | (rand & ((1 << 80) - 1))
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


def id_column(prefix: str) -> Mapped[str]:
    return mapped_column(String(40), primary_key=True, default=lambda: new_id(prefix))


def created_at_column() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, nullable=False)
