"""Status callbacks: stored once per (MessageSid, status), then applied monotonically.

Unknown SIDs are stored and otherwise ignored (a test send, or another system on the account).

Three statements on the common path, none a read-then-write: store the callback (its message found
by a subquery), move the message with one conditional UPDATE (only from a state the report
advances, so concurrent or out-of-order callbacks can never move it back), count a final state on
the campaign.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import guard
from app.config import Settings
from app.db.base import utcnow
from app.db.upsert import dialect_insert
from app.dispatch import states
from app.dispatch.reconcile import ATTACHABLE, attach_sid
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
    code = _int(params.get("ErrorCode"))
    messages, callbacks = Message.__table__, StatusCallback.__table__
    by_sid = select(messages.c.id).where(messages.c.provider_sid == sid).scalar_subquery()
    found = by_sid
    if message_id and message_id.isdigit():  # our ?m=: a message whose SID was never recorded
        found = func.coalesce(by_sid, select(messages.c.id).where(
            messages.c.id == int(message_id), messages.c.provider_sid.is_(None),
            messages.c.state.in_(ATTACHABLE)).scalar_subquery())
    insert = dialect_insert(session, callbacks).values(
        message_sid=sid, status=status[:20], error_code=code, received_at=utcnow(), message_id=found,
        known=found.is_not(None),
    ).on_conflict_do_nothing(index_elements=["message_sid", "status"])
    stored = (await session.execute(insert.returning(callbacks.c.message_id, by_sid.is_(None)))).first()
    if stored is None:
        return "duplicate"
    message_pk, needs_sid = stored
    if message_pk is None:
        return "unknown"
    if needs_sid:
        await attach_sid(session, message_pk, sid)
    target, sources = states.forward_moves(status)
    if target is None:
        return "applied"
    now = utcnow()
    values = {"state": target, "updated_at": now}
    if target == states.DELIVERED:
        values["delivered_at"] = now
    if target in (states.UNDELIVERED, states.FAILED) and code is not None:
        values["error_code"] = code
    campaign_id = await session.scalar(
        update(messages).where(messages.c.id == message_pk, messages.c.provider_sid == sid,
                               messages.c.state.in_(sources))
        .values(**values).returning(messages.c.campaign_id))
    if campaign_id is not None:
        await guard.record_delivery(session, campaign_id, target, settings=settings, error_code=code)
    return "applied"
