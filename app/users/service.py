"""Employees: create, issue keys, offboard. Services flush; the request or unit of work commits."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import api_keys
from app.audit.service import record
from app.db.base import utcnow
from app.errors import Conflict, Forbidden, NotFound
from app.models import ApiKey, User
from app.pagination import keyset
from app.vocab.roles import Role


async def get_user(session: AsyncSession, user_id: str) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


async def list_users(session: AsyncSession, *, limit: int, cursor: str | None) -> list[User]:
    return await keyset(session, User, limit=limit, cursor=cursor)


async def create_user(
    session: AsyncSession, *, email: str, name: str, roles: list[str], actor: User | None
) -> tuple[User, ApiKey, str]:
    email = email.strip().lower()
    taken = await session.scalar(select(func.count()).select_from(User).where(User.email == email))
    if taken:
        raise Conflict(f"a user with email {email} already exists", code="email_taken")
    user = User(email=email, name=name, roles=sorted(set(roles)))
    session.add(user)
    await session.flush()
    record(session, "user.created", actor=actor, target_type="user", target_id=user.id, email=email, roles=user.roles)
    key, plaintext = await issue_key(session, user, actor=actor)
    return user, key, plaintext


async def issue_key(session: AsyncSession, user: User, *, actor: User | None) -> tuple[ApiKey, str]:
    if not user.active:
        raise Conflict(f"user {user.id} was offboarded; an offboarded user gets no new key", code="user_offboarded")
    key, plaintext = api_keys.mint(user)
    session.add(key)
    await session.flush()
    record(session, "api_key.issued", actor=actor, target_type="user", target_id=user.id, key_id=key.id, prefix=key.prefix)
    return key, plaintext


async def _user_for_keys(session: AsyncSession, user_id: str, actor: User) -> User:
    """The user whose keys ``actor`` manages: themself, or anyone for an admin (checked before the
    lookup, so nobody else learns which user ids exist)."""
    if actor.id != user_id and not actor.has_any(Role.ADMIN):
        raise Forbidden("only an admin or the key's own user can see or revoke a user's API keys")
    return await get_user(session, user_id)


async def keys_of(session: AsyncSession, user_id: str, *, actor: User) -> list[ApiKey]:
    user = await _user_for_keys(session, user_id, actor)
    return list((await session.scalars(select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.id))).all())


async def revoke_key(session: AsyncSession, user_id: str, key_id: str, *, actor: User) -> ApiKey:
    """Revoke one key (lost, leaked, or a retired integration) without offboarding its user. Audited."""
    user = await _user_for_keys(session, user_id, actor)
    key = await session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user.id)
                               .with_for_update())
    if key is None:
        raise NotFound(f"user {user.id} has no API key with id {key_id}")
    if key.revoked_at is not None:
        raise Conflict(f"API key {key_id} was already revoked at {key.revoked_at.isoformat()}", code="already_revoked")
    key.revoked_at = utcnow()
    await session.flush()
    record(session, "api_key.revoked", actor=actor, target_type="user", target_id=user.id, key_id=key.id,
           prefix=key.prefix)
    return key


async def offboard(session: AsyncSession, user: User, *, actor: User) -> dict:
    """Revoke every key at once and hand the user's work back to the company.

    Later domains (senders, campaigns) add what they hand back through ``app.flows.service.offboard``.
    """
    if not user.active:
        raise Conflict(f"user {user.id} was already offboarded at {user.offboarded_at.isoformat()}", code="already_offboarded")
    user.offboarded_at = utcnow()
    revoked = await api_keys.revoke_all(session, user)
    await session.flush()
    record(session, "user.offboarded", actor=actor, target_type="user", target_id=user.id, revoked_keys=revoked)
    return {"user": user, "revoked_keys": revoked}
