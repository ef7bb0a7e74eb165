"""Employees: create, issue keys, offboard. Services flush; the request or unit of work commits."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import api_keys
from app.audit.service import record
from app.db.base import utcnow
from app.errors import Conflict, NotFound
from app.models import ApiKey, User


async def get_user(session: AsyncSession, user_id: str) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


async def list_users(session: AsyncSession, *, limit: int, cursor: str | None) -> list[User]:
    query = select(User).order_by(User.id).limit(limit)
    if cursor:
        query = query.where(User.id > cursor)
    return list((await session.scalars(query)).all())


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
