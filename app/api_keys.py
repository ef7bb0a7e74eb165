"""API keys: minted once, stored as a hash, recognised by a visible prefix.

Below every domain (it needs only the models): the users domain issues and revokes keys, the
request dependencies (``app.deps``) and the idempotency middleware authenticate with them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.models import ApiKey, User

KEY_PREFIX = "fl_"


def digest(key: str) -> str:
    """What is stored of a key (SHA-256): also how a live stream is counted against its key."""
    return hashlib.sha256(key.encode()).hexdigest()


def mint(user: User) -> tuple[ApiKey, str]:
    """A new key for ``user``: the record to store and the plaintext to show exactly once."""
    visible = secrets.token_hex(4)
    plaintext = f"{KEY_PREFIX}{visible}_{secrets.token_urlsafe(32)}"
    return ApiKey(user_id=user.id, prefix=f"{KEY_PREFIX}{visible}", key_hash=digest(plaintext)), plaintext


async def authenticate(session: AsyncSession, plaintext: str) -> User | None:
    """The active user a live key belongs to, else None. Checked against the database every time,
    so a revoked key or an offboarded user fails on the very next request."""
    if not plaintext.startswith(KEY_PREFIX) or len(plaintext) > 200:
        return None
    hashed = digest(plaintext)
    row = (
        await session.execute(
            select(ApiKey, User)
            .join(User, User.id == ApiKey.user_id)
            .where(ApiKey.key_hash == hashed, ApiKey.revoked_at.is_(None), User.offboarded_at.is_(None))
        )
    ).first()
    if row is None or not hmac.compare_digest(row.ApiKey.key_hash, hashed):
        return None
    return row.User


async def revoke_all(session: AsyncSession, user: User) -> int:
    result = await session.execute(
        update(ApiKey)
        .where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return result.rowcount or 0
