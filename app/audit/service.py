"""The audit log: one function writes it, one query reads it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent, User


def record(
    session: AsyncSession,
    action: str,
    *,
    actor: User | None,
    target_type: str,
    target_id: str | None,
    **details: Any,
) -> AuditEvent:
    """Append one event to the session (flushed and committed with the change it describes)."""
    event = AuditEvent(
        actor_id=actor.id if actor else None,
        action=action,
        target_type=target_type,
        target_id=target_id,
        details=details,
    )
    session.add(event)
    return event


async def list_events(
    session: AsyncSession,
    *,
    limit: int,
    cursor: str | None = None,
    action: str | None = None,
    actor_id: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AuditEvent]:
    """Newest first, keyset-paginated on the time-ordered id."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if cursor:
        query = query.where(AuditEvent.id < cursor)
    filters = {
        AuditEvent.action: action,
        AuditEvent.actor_id: actor_id,
        AuditEvent.target_type: target_type,
        AuditEvent.target_id: target_id,
    }
    for column, value in filters.items():
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    return list((await session.scalars(query)).all())
