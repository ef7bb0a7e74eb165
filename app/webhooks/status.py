"""Status callbacks: stored many at a time (group commit), then applied set-based by the applier.

Twilio posts two or more callbacks per message, so a full-speed send brings thousands a second.
Each is stored once per (MessageSid, status) with its message (found by SID, or by our ``?m=`` for
a message whose SID was never recorded) and a row in ``status_callback_pending``: on PostgreSQL the
whole batch in one INSERT … SELECT over arrays, committed before any of them is answered
(``app.webhooks.ingest``).

The applier (``apply_pending``, a loop of the worker) takes a batch of pending callbacks, deleting
their pending rows in the transaction that applies them, so each is applied exactly once whatever
crashes: messages move forward only (``states.forward_moves``: a conditional UPDATE per target
state, never back, whatever order or how often the callbacks came), and each campaign's counters move
once per batch. Unknown SIDs are stored and otherwise ignored (a test send, or another system).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import cache

from sqlalchemy import bindparam, delete, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import guard
from app.config import Settings
from app.db import Database
from app.db.base import utcnow
from app.db.upsert import insert_for
from app.dispatch import states
from app.dispatch.reconcile import ATTACHABLE, attach_sid
from app.inbox import delivery
from app.models import Campaign, Message, StatusCallback, StatusCallbackPending
from app.providers.registration import SENDER_NOT_REGISTERED_CODES
from app.senders import service as senders
from app.vocab.message import MessageState


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def parse(params: dict[str, str], message_id: str | None) -> dict | None:
    """The row to store for a (genuine) callback's parameters, or None when it reports nothing."""
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
    if not sid or not status:
        return None
    return {"p_sid": sid[:64], "p_status": status[:20], "p_code": _int(params.get("ErrorCode")),
            "p_message_id": int(message_id) if message_id and message_id.isdigit() else None}


_messages, _callbacks, _pending = Message.__table__, StatusCallback.__table__, StatusCallbackPending.__table__
_by_sid = select(_messages.c.id).where(_messages.c.provider_sid == bindparam("p_sid")).scalar_subquery()
_found = func.coalesce(_by_sid, select(_messages.c.id).where(
    _messages.c.id == bindparam("p_message_id"), _messages.c.provider_sid.is_(None),
    _messages.c.state.in_([literal(state) for state in ATTACHABLE])).scalar_subquery())  # executemany: no expanding IN


@cache
def _store_one():
    """One callback, unless (sid, status) is stored (SQLite: one statement per row, in the batch's
    one transaction)."""
    return insert_for("sqlite", _callbacks).values(
        message_sid=bindparam("p_sid"), status=bindparam("p_status"), error_code=bindparam("p_code"),
        received_at=bindparam("p_now", type_=_callbacks.c.received_at.type), message_id=_found,
        known=_found.is_not(None),
    ).on_conflict_do_nothing(index_elements=["message_sid", "status"]).returning(_callbacks.c.id)


# PostgreSQL: the whole batch in one statement — an INSERT … SELECT over unnest()ed arrays (one prepared
# statement whatever the batch size, each row's message found by SID or (our ?m=) by id as above) and,
# in the same statement, the new rows' pending entries. Written with the driver's own placeholders:
# the group commit runs it as a transaction of its own on the asyncpg connection (``store_committed``).
_STORE_MANY = f"""
    WITH stored AS (INSERT INTO status_callback (message_sid, status, error_code, message_id, known, received_at)
    SELECT v.sid, v.status, v.code, f.id, f.id IS NOT NULL, $1::timestamptz
    FROM unnest($2::varchar[], $3::varchar[], $4::integer[], $5::bigint[]) AS v(sid, status, code, message_id)
    LEFT JOIN LATERAL (SELECT coalesce(
        (SELECT m.id FROM message m WHERE m.provider_sid = v.sid),
        (SELECT m.id FROM message m WHERE m.id = v.message_id AND m.provider_sid IS NULL
            AND m.state IN ({", ".join(f"'{state}'" for state in ATTACHABLE)}))) AS id) AS f ON true
    ON CONFLICT (message_sid, status) DO NOTHING
    RETURNING id)
    INSERT INTO status_callback_pending (callback_id) SELECT id FROM stored
    RETURNING callback_id"""


def _store_many_args(rows: list[dict]) -> tuple:
    return (utcnow(), [row["p_sid"] for row in rows], [row["p_status"] for row in rows],
            [row["p_code"] for row in rows], [row["p_message_id"] for row in rows])


_ENQUEUE = insert(_pending)


async def store(session: AsyncSession, rows: list[dict]) -> int:
    """Store callbacks (rows from ``parse``) and queue the new ones for the applier. Returns how many
    were new; replays of a stored (sid, status) change nothing. The caller commits."""
    if not rows:
        return 0
    connection = await session.connection()
    if connection.dialect.name == "postgresql":  # stored and queued in one statement
        return len((await connection.exec_driver_sql(_STORE_MANY, _store_many_args(rows))).all())
    now = utcnow()
    stored = [callback_id for row in rows
              if (callback_id := await connection.scalar(_store_one(), {**row, "p_now": now})) is not None]
    if stored:
        await connection.execute(_ENQUEUE, [{"callback_id": callback_id} for callback_id in stored])
    return len(stored)


async def store_committed(db: Database, rows: list[dict]) -> int:
    """``store`` and its COMMIT: returns once the callbacks are durable (the group commit's batch).

    On PostgreSQL the one statement is its own transaction on the driver's connection
    (``Database.fetch_in_one_round_trip``): one round trip instead of BEGIN, INSERT and COMMIT, and
    none of SQLAlchemy's work per transaction, which was a quarter of the API's CPU per callback
    under a full-speed send. Elsewhere (SQLite, or a test's bound database) a unit of work."""
    if not rows:
        return 0
    if db.dialect == "postgresql" and not db.bound:
        return len(await db.fetch_in_one_round_trip(_STORE_MANY, *_store_many_args(rows)))
    async with db.unit_of_work() as session:
        return await store(session, rows)


# -- the applier -------------------------------------------------------------------------------

_CLAIM = (delete(_pending).where(_pending.c.callback_id.in_(
    select(_pending.c.callback_id).order_by(_pending.c.callback_id).limit(bindparam("p_limit"))
    .with_for_update(skip_locked=True))).returning(_pending.c.callback_id))
_LOAD = (
    select(_callbacks.c.id, _callbacks.c.message_sid, _callbacks.c.status, _callbacks.c.error_code,
           _callbacks.c.message_id, _messages.c.provider_sid)
    .select_from(_callbacks.outerjoin(_messages, _messages.c.id == _callbacks.c.message_id))
    .where(_callbacks.c.id.in_(bindparam("p_ids", expanding=True))).order_by(_callbacks.c.id)
)
# A worker that recorded its send between _LOAD and attach_sid: its SID, read again (without it, the
# callback was consumed unapplied and the message stayed "sent" for good; bench_under_send found it).
_RECORDED_SID = select(_messages.c.provider_sid).where(_messages.c.id == bindparam("p_id"))
# Forward only: from a state the report advances (states.forward_moves), never back.
_MOVE = (
    update(_messages)
    .where(_messages.c.id.in_(bindparam("p_ids", expanding=True)),
           _messages.c.state.in_(bindparam("p_sources", expanding=True)))
    .values(state=bindparam("p_state"), updated_at=bindparam("p_now"),
            delivered_at=func.coalesce(bindparam("p_delivered_at", type_=_messages.c.delivered_at.type),
                                       _messages.c.delivered_at),
            error_code=func.coalesce(bindparam("p_error_code", type_=_messages.c.error_code.type),
                                     _messages.c.error_code))
    .returning(_messages.c.campaign_id)
)
_FAILED = (MessageState.UNDELIVERED, MessageState.FAILED)


@dataclass
class _Report:
    """What a message's callbacks of one batch say together: the state they move it to (``advance``
    folded over them in arrival order) and the error code that came with that state."""

    target: str = MessageState.QUEUED
    code: int | None = None


async def apply_pending(session: AsyncSession, *, settings: Settings, limit: int = 1000) -> int:
    """Apply up to ``limit`` stored callbacks, oldest first; returns how many. The caller commits:
    their pending rows go in the same transaction, so a crash leaves them pending, never half-applied."""
    connection = await session.connection()
    ids = (await connection.execute(_CLAIM, {"p_limit": limit})).scalars().all()
    if not ids:
        return 0
    reports: dict[int, _Report] = defaultdict(_Report)
    attached: dict[int, str | None] = {}
    for _id, sid, status, code, message_pk, provider_sid in (await connection.execute(_LOAD, {"p_ids": ids})).all():
        if message_pk is None:  # not a campaign message: perhaps a reply from the company inbox
            await delivery.record_status(session, sid, status, code, reply_id=None, now=utcnow())
            continue  # otherwise an unknown SID: stored, nothing to apply
        if provider_sid is None:  # the callback came before the worker recorded the send, or proves a lost one
            if message_pk not in attached:
                attached[message_pk] = sid if await attach_sid(session, message_pk, sid) is not None else \
                    await connection.scalar(_RECORDED_SID, {"p_id": message_pk})  # recorded since _LOAD read it
            provider_sid = attached[message_pk]
        if provider_sid != sid:
            continue
        report = reports[message_pk]
        moved = states.advance(report.target, status)
        if moved != report.target:
            report.target = moved
            report.code = code if moved in _FAILED else None
    groups: dict[tuple[str, int | None], list[int]] = defaultdict(list)
    for message_pk, report in reports.items():
        if report.target != MessageState.QUEUED:
            groups[(report.target, report.code)].append(message_pk)
    now = utcnow()
    delivered: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    codes: dict[str, int] = {}  # campaign -> the last error code of its failures
    refused: dict[str, int] = {}  # campaign -> a carrier code that says its sender is not registered
    for (target, code), message_pks in sorted(groups.items(), key=lambda g: (states.RANK[g[0][0]], g[0][0])):
        _, sources = states.forward_moves(target)
        moved = (await connection.execute(_MOVE, {
            "p_ids": sorted(message_pks), "p_sources": list(sources), "p_state": target, "p_now": now,
            "p_delivered_at": now if target == MessageState.DELIVERED else None,
            "p_error_code": code})).scalars().all()
        if target == MessageState.DELIVERED:
            delivered.update(moved)
        elif target in _FAILED:
            failed.update(moved)
            if code is not None:
                codes.update(dict.fromkeys(moved, code))
            if code in SENDER_NOT_REGISTERED_CODES:
                refused.update(dict.fromkeys(moved, code))
    for campaign_id in sorted(delivered.keys() | failed.keys()):  # one lock order for every applier
        await guard.record_deliveries(session, campaign_id, delivered=delivered[campaign_id],
                                      failed=failed[campaign_id], settings=settings, error_code=codes.get(campaign_id))
        if campaign_id in refused:  # rare: the carriers refuse the sender itself
            sender_id = await connection.scalar(select(Campaign.sender_id).where(Campaign.id == campaign_id))
            await senders.suspend_for_carrier_error(session, sender_id, refused[campaign_id])
    return len(ids)
