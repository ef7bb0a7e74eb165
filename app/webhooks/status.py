"""Status callbacks: stored once per (MessageSid, status), then applied monotonically.

Unknown SIDs are stored and otherwise ignored (a test send, or another system on the account).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import guard
from app.config import Settings
from app.db.base import utcnow
from app.db.upsert import insert_ignore
from app.dispatch import states
from app.dispatch.reconcile import attach_sid
from app.models import Message, StatusCallback


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


async def handle(session: AsyncSession, params: dict[str, str], *, settings: Settings,
                 message_id: str | None = None) -> str:
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
    if not sid or not status:
        return "ignored"
    message = await session.scalar(select(Message).where(Message.provider_sid == sid).with_for_update())
    if message is None and message_id and message_id.isdigit():
        message = await attach_sid(session, int(message_id), sid)
    code = _int(params.get("ErrorCode"))
    stored = await insert_ignore(session, StatusCallback, {
        "message_sid": sid, "status": status[:20], "error_code": code, "received_at": utcnow(),
        "message_id": message.id if message else None, "known": message is not None,
    }, conflict=["message_sid", "status"])
    if not stored:
        return "duplicate"
    if message is None:
        return "unknown"
    target = states.advance(message.state, status)
    if target != message.state:
        message.state, message.updated_at = target, utcnow()
        if target == states.DELIVERED:
            message.delivered_at = message.updated_at
        if target in (states.UNDELIVERED, states.FAILED) and code is not None:
            message.error_code = code
        await session.flush()
        await guard.record_delivery(session, message, settings=settings, error_code=code)
    await session.flush()
    return "applied"
