"""Status callbacks: stored once per (MessageSid, status), then applied monotonically.

Unknown SIDs are stored and otherwise ignored (a test send, or another system on the account).

Three statements on the common path, none a read-then-write: store the callback (its message found
by a subquery), move the message with one conditional UPDATE (only from a state the report
advances, so concurrent or out-of-order callbacks can never move it back), count a final state on
the campaign.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import guard
from app.config import Settings
from app.db.base import utcnow
from app.db.upsert import insert_for
from app.dispatch import states
from app.dispatch.reconcile import ATTACHABLE, attach_sid
from app.inbox import delivery
from app.models import Campaign, Message, StatusCallback
from app.providers.registration import SENDER_NOT_REGISTERED_CODES
from app.senders import service as senders
from app.vocab.message import MessageState


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


_messages, _callbacks = Message.__table__, StatusCallback.__table__
_by_sid = select(_messages.c.id).where(_messages.c.provider_sid == bindparam("p_sid")).scalar_subquery()


@cache
def _store_statement(dialect: str, with_message_id: bool):
    """Store the callback once per (sid, status), with its message: found by SID, or (our ``?m=``) a
    message whose SID was never recorded. Returns the message and whether its SID must be attached."""
    found = _by_sid
    if with_message_id:
        found = func.coalesce(_by_sid, select(_messages.c.id).where(
            _messages.c.id == bindparam("p_message_id"), _messages.c.provider_sid.is_(None),
            _messages.c.state.in_(ATTACHABLE)).scalar_subquery())
    return insert_for(dialect, _callbacks).values(
        message_sid=bindparam("p_sid"), status=bindparam("p_status"), error_code=bindparam("p_code"),
        received_at=bindparam("p_now"), message_id=found, known=found.is_not(None),
    ).on_conflict_do_nothing(index_elements=["message_sid", "status"]).returning(
        _callbacks.c.message_id, _by_sid.is_(None))


# Forward only: from a state the report advances (states.forward_moves), never back.
_MOVE = (
    update(_messages)
    .where(_messages.c.id == bindparam("p_id"), _messages.c.provider_sid == bindparam("p_sid"),
           _messages.c.state.in_(bindparam("p_sources", expanding=True)))
    .values(state=bindparam("p_state"), updated_at=bindparam("p_now"),
            delivered_at=func.coalesce(bindparam("p_delivered_at", type_=_messages.c.delivered_at.type),
                                       _messages.c.delivered_at),
            error_code=func.coalesce(bindparam("p_error_code", type_=_messages.c.error_code.type),
                                     _messages.c.error_code))
    .returning(_messages.c.campaign_id)
)


async def handle(session: AsyncSession, params: dict[str, str], *, settings: Settings,
                 message_id: str | None = None, reply_id: str | None = None) -> str:
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
    if not sid or not status:
        return "ignored"
    code = _int(params.get("ErrorCode"))
    now = utcnow()
    with_message_id = bool(message_id and message_id.isdigit())
    values = {"p_sid": sid, "p_status": status[:20], "p_code": code, "p_now": now}
    if with_message_id:
        values["p_message_id"] = int(message_id)
    connection = await session.connection()  # Core only, but for the rare attach_sid below
    stored = (await connection.execute(_store_statement(connection.dialect.name, with_message_id), values)).first()
    if stored is None:
        return "duplicate"
    message_pk, needs_sid = stored
    if message_pk is None:  # not a campaign message: perhaps a reply from the company inbox
        found = await delivery.record_status(session, sid, status, code, reply_id=reply_id, now=now)
        return "applied" if found else "unknown"
    if needs_sid:
        await attach_sid(session, message_pk, sid)
    target, sources = states.forward_moves(status)
    if target is None:
        return "applied"
    campaign_id = await connection.scalar(_MOVE, {
        "p_id": message_pk, "p_sid": sid, "p_sources": list(sources), "p_state": target, "p_now": now,
        "p_delivered_at": now if target == MessageState.DELIVERED else None,
        "p_error_code": code if target in (MessageState.UNDELIVERED, MessageState.FAILED) else None})
    if campaign_id is not None:
        await guard.record_delivery(session, campaign_id, target, settings=settings, error_code=code)
        if code in SENDER_NOT_REGISTERED_CODES:  # rare: the carriers refuse the sender itself
            sender_id = await connection.scalar(select(Campaign.sender_id).where(Campaign.id == campaign_id))
            await senders.suspend_for_carrier_error(session, sender_id, code)
    return "applied"
