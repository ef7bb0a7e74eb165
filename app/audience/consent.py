"""Consent: the ledger, and the one function for each thing a subscriber can say.

- ``opt_out`` is THE opt-out: keyword STOP, a natural-language revocation, and Twilio error 21610
  all come here. It is global for the company (every list) and puts the number on the suppression
  list, which outlives erasure.
- ``opt_back_in`` (START/UNSTOP, or YES from an opted-out number) lifts it; ``confirm`` (YES) turns
  a pending double opt-in into a subscription.
- ``sendable`` is the one definition of "may this subscriber get a campaign from these lists".
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy import and_, bindparam, case, exists, func, insert, literal, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import new_id, utcnow
from app.db.upsert import insert_for
from app.models import ConsentEvent, Subscriber, SubscriberList, Subscription, Suppression
from app.vocab.audience import SubscriptionState


def record_event(
    session: AsyncSession,
    subscriber: Subscriber,
    kind: str,
    *,
    channel: str,
    consented_at: datetime | None = None,
    list_id: str | None = None,
    evidence: str | None = None,
    ip: str | None = None,
    inbound_sid: str | None = None,
    actor_id: str | None = None,
    user_agent: str | None = None,
    page_url: str | None = None,
    disclosure_id: str | None = None,
) -> ConsentEvent:
    event = ConsentEvent(
        subscriber_id=subscriber.id,
        list_id=list_id,
        kind=kind,
        channel=channel,
        evidence=evidence,
        phone=subscriber.phone,
        consented_at=consented_at or utcnow(),
        ip=ip,
        inbound_sid=inbound_sid,
        actor_id=actor_id,
        user_agent=user_agent,
        page_url=page_url,
        disclosure_id=disclosure_id,
    )
    session.add(event)
    return event


async def active_suppression(session: AsyncSession, phone: str) -> Suppression | None:
    row = await session.get(Suppression, phone)
    return row if row is not None and row.lifted_at is None else None


_subscribers, _subscriptions, _suppressions = Subscriber.__table__, Subscription.__table__, Suppression.__table__


def _suppress_statement(dialect: str, when=None):
    """Suppress ``p_phone`` (again, if it was lifted), returning the phone only when that is new.
    ``when``: a condition of an enclosing statement, without which nothing is inserted (then an
    INSERT … SELECT, so the condition can be its WHERE)."""
    values = (bindparam("p_phone", type_=_suppressions.c.phone.type), bindparam("p_reason", type_=_suppressions.c.reason.type),
              bindparam("p_at", type_=_suppressions.c.opted_out_at.type))
    columns = ("phone", "reason", "opted_out_at")
    statement = insert_for(dialect, _suppressions)
    statement = (statement.values(dict(zip(columns, values, strict=True))) if when is None
                 else statement.from_select(columns, select(*values).where(when)))
    return statement.on_conflict_do_update(
        index_elements=["phone"],
        set_={"reason": statement.excluded.reason, "opted_out_at": statement.excluded.opted_out_at,
              "lifted_at": None},
        where=_suppressions.c.lifted_at.is_not(None),
    ).returning(_suppressions.c.phone)


_SUPPRESS = {dialect: _suppress_statement(dialect) for dialect in ("postgresql", "sqlite")}


async def suppress(session: AsyncSession, phone: str, *, reason: str, at: datetime) -> bool:
    """Put ``phone`` on the suppression list (again, if it was lifted). True unless it already was.

    One INSERT … ON CONFLICT DO UPDATE … RETURNING: two STOPs from one number at the same instant
    both succeed, and only the first is told the number was new (the second waits on the row).
    """
    connection = await session.connection()
    result = await connection.execute(_SUPPRESS[connection.dialect.name],
                                      {"p_phone": phone, "p_reason": reason, "p_at": at})
    return result.first() is not None


async def last_opt_out_at(session: AsyncSession, phone: str) -> datetime | None:
    """When this number last opted out (lifted or not): consent older than that never counts."""
    row = await session.get(Suppression, phone)
    return row.opted_out_at if row is not None else None


async def opt_out(
    session: AsyncSession,
    phone: str,
    *,
    channel: str,
    reason: str,
    inbound_sid: str | None = None,
    at: datetime | None = None,
) -> bool:
    """Opt ``phone`` out of everything, at once and for good. True if it was not opted out before.

    The caller commits before answering (the inbound webhook commits before its 200). Core
    statements, none of them a read-then-write: suppress (upsert), mark the subscriber, unsubscribe
    every list, append the ledger event. On PostgreSQL the four are one statement (a round trip
    there costs as much as the work); SQLite, in process, runs them in turn.
    """
    at = at or utcnow()
    connection = await session.connection()  # Core only: no ORM work to do
    if connection.dialect.name == "postgresql":
        return await connection.scalar(_opt_out_in_one_statement(), opt_out_parameters(
            phone, channel=channel, reason=reason, inbound_sid=inbound_sid, at=at))
    newly = await suppress(session, phone, reason=reason, at=at)
    subscriber_id = await connection.scalar(_MARK_OPTED_OUT, {"p_phone": phone, "p_at": at})
    if subscriber_id is not None:
        await connection.execute(_UNSUBSCRIBE_ALL, {"p_subscriber_id": subscriber_id, "p_at": at})
        if newly:
            await connection.execute(_LEDGER_EVENT, {
                "subscriber_id": subscriber_id, "kind": "opt_out", "channel": channel, "evidence": reason,
                "phone": phone, "consented_at": at, "inbound_sid": inbound_sid})
    return newly


_MARK_OPTED_OUT = (
    update(_subscribers).where(_subscribers.c.phone == bindparam("p_phone"))
    .values(opted_out_at=func.coalesce(_subscribers.c.opted_out_at,
                                       bindparam("p_at", type_=_subscribers.c.opted_out_at.type)))
    .returning(_subscribers.c.id)
)


def _unsubscribe(which):
    """Every list of the subscriber(s) ``which`` selects, unsubscribed at ``p_at`` (one already
    unsubscribed keeps its time). No filter on the state: in PostgreSQL's one-statement opt-out, a
    STOP that waited behind a START for the suppression row still reads the subscriptions as its
    statement's snapshot has them (unsubscribed), and a row a filter rejected there is never looked
    at again — the lists START restored would stay subscribed. Without the filter every row of the
    subscriber is updated, and one changed meanwhile is checked again at its latest version."""
    return (update(_subscriptions).where(which)
            .values(state=SubscriptionState.UNSUBSCRIBED,
                    updated_at=case((_subscriptions.c.state != SubscriptionState.UNSUBSCRIBED, bindparam("p_at")),
                                    else_=_subscriptions.c.updated_at)))


_UNSUBSCRIBE_ALL = _unsubscribe(_subscriptions.c.subscriber_id == bindparam("p_subscriber_id"))
_LEDGER_EVENT = insert(ConsentEvent.__table__)  # the values at execution; id and recorded_at by default


@cache
def _opt_out_in_one_statement():
    """The same four steps as one PostgreSQL statement (data-modifying CTEs), returning ``newly``."""
    suppressed, steps = opt_out_steps()
    return select(exists(select(suppressed.c.phone))).add_cte(*steps)


def opt_out_steps(when=None):
    """The opt-out's four steps as PostgreSQL data-modifying CTEs: ``(suppressed, steps)``, where
    ``suppressed`` returns the phone when its suppression is new and ``steps`` are every CTE the
    statement must carry (``select(...).add_cte(*steps)``).

    Every step sees the snapshot the statement started with and the others' RETURNING output: the
    subscriptions are found through the subscriber just marked, and the ledger event is appended
    only when the suppression was new. Two STOPs from one number serialise on the suppression row
    as in the step-by-step version. With ``when`` (a condition on another CTE of the same
    statement) nothing happens unless it holds: the inbound webhook gates the opt-out on the inbound
    message being new (a replayed STOP changes nothing, app/webhooks/inbound.py).
    """
    suppressed = _suppress_statement("postgresql", when).cte("suppressed")
    marked = (_MARK_OPTED_OUT if when is None else _MARK_OPTED_OUT.where(when)).cte("marked")
    unsubscribed = (_unsubscribe(_subscriptions.c.subscriber_id.in_(select(marked.c.id)))
                    .returning(_subscriptions.c.id).cte("unsubscribed"))
    events = ConsentEvent.__table__
    columns = ("id", "subscriber_id", "kind", "channel", "evidence", "phone", "consented_at", "recorded_at",
               "inbound_sid")
    recorded = (
        insert(events).from_select(columns, select(
            bindparam("p_event_id", type_=events.c.id.type), marked.c.id, literal("opt_out"),
            bindparam("p_channel", type_=events.c.channel.type), bindparam("p_reason", type_=events.c.evidence.type),
            bindparam("p_phone", type_=events.c.phone.type), bindparam("p_at", type_=events.c.consented_at.type),
            bindparam("p_now", type_=events.c.recorded_at.type),
            bindparam("p_inbound_sid", type_=events.c.inbound_sid.type),
        ).where(exists(select(suppressed.c.phone))), include_defaults=False)
        .returning(events.c.id).cte("recorded")
    )
    return suppressed, [suppressed, marked, unsubscribed, recorded]


def opt_out_parameters(phone: str, *, channel: str, reason: str, inbound_sid: str | None, at: datetime) -> dict:
    """The values ``opt_out_steps`` binds."""
    return {"p_phone": phone, "p_reason": reason, "p_at": at, "p_event_id": new_id("cev"), "p_now": utcnow(),
            "p_channel": channel, "p_inbound_sid": inbound_sid}


async def lift(session: AsyncSession, phone: str, *, at: datetime) -> None:
    """Take ``phone`` off the suppression list (only ever after a new explicit opt-in)."""
    row = await session.get(Suppression, phone)
    if row is not None and row.lifted_at is None:
        row.lifted_at = at
    subscriber = await session.scalar(select(Subscriber).where(Subscriber.phone == phone))
    if subscriber is not None:
        subscriber.opted_out_at = None


async def opt_back_in(session: AsyncSession, phone: str, *, channel: str, evidence: str,
                      inbound_sid: str | None = None, at: datetime | None = None) -> Subscriber | None:
    """An explicit opt-in from the subscriber (START/UNSTOP/YES): lift suppression, restore lists."""
    at = at or utcnow()
    row = await session.get(Suppression, phone)
    if row is not None and row.lifted_at is None:
        row.lifted_at = at
    subscriber = await session.scalar(select(Subscriber).where(Subscriber.phone == phone))
    if subscriber is None:
        await session.flush()
        return None
    was_out = subscriber.opted_out_at is not None or row is not None
    subscriber.opted_out_at = None
    subscriptions = (await session.scalars(
        select(Subscription).where(Subscription.subscriber_id == subscriber.id, Subscription.state == SubscriptionState.UNSUBSCRIBED)
    )).all()
    confirmed_lists = set((await session.scalars(
        select(ConsentEvent.list_id).where(ConsentEvent.subscriber_id == subscriber.id,
                                           ConsentEvent.kind.in_(("confirm", "opt_back_in")))
    )).all())
    double_lists = set((await session.scalars(
        select(SubscriberList.id).where(SubscriberList.opt_in == "double",
                                        SubscriberList.id.in_([s.list_id for s in subscriptions]))
    )).all()) if subscriptions else set()
    for subscription in subscriptions:
        # Back to the state before the opt-out: a double opt-in never confirmed stays pending.
        never_confirmed = subscription.list_id in double_lists and subscription.list_id not in confirmed_lists
        subscription.state, subscription.updated_at = (SubscriptionState.PENDING if never_confirmed else SubscriptionState.SUBSCRIBED), at
        event = record_event(session, subscriber, "opt_back_in", channel=channel, consented_at=at,
                             list_id=subscription.list_id, evidence=evidence, inbound_sid=inbound_sid)
        await session.flush()
        subscription.consent_event_id = event.id
    if was_out and not subscriptions:
        record_event(session, subscriber, "opt_back_in", channel=channel, consented_at=at, evidence=evidence,
                     inbound_sid=inbound_sid)
    await session.flush()
    return subscriber


async def confirm(session: AsyncSession, phone: str, *, inbound_sid: str | None, evidence: str,
                  at: datetime | None = None) -> list[Subscription]:
    """YES to a double opt-in: every pending subscription of this number becomes subscribed."""
    at = at or utcnow()
    subscriber = await session.scalar(select(Subscriber).where(Subscriber.phone == phone))
    if subscriber is None:
        return []
    pending = (await session.scalars(
        select(Subscription).where(Subscription.subscriber_id == subscriber.id, Subscription.state == SubscriptionState.PENDING)
    )).all()
    for subscription in pending:
        event = record_event(session, subscriber, "confirm", channel="sms", consented_at=at,
                             list_id=subscription.list_id, evidence=evidence, inbound_sid=inbound_sid)
        await session.flush()
        subscription.state, subscription.updated_at, subscription.consent_event_id = SubscriptionState.SUBSCRIBED, at, event.id
    await session.flush()
    return list(pending)


def _subscribed_to(list_ids):
    return Subscription.list_id.in_(list_ids), Subscription.state == SubscriptionState.SUBSCRIBED


def _reachable():
    return Subscriber.opted_out_at.is_(None), Subscriber.erased_at.is_(None), Subscriber.invalid_reason.is_(None)


def _suppressed():
    return select(Suppression.phone).where(Suppression.phone == Subscriber.phone, Suppression.lifted_at.is_(None))


def sendable_condition(list_ids):
    """SQL condition over ``Subscriber``/``Subscription``: may this subscription receive a campaign?

    Subscribed (confirmed, for double opt-in) to one of ``list_ids``, not opted out, not erased, not
    marked invalid, and not on the active suppression list. For set-based work (materialising an
    audience, counting it): the planner is free to hash or merge whole tables.
    """
    # Correlated by name: inside an EXISTS nested in a query of subscribers (the placeholder tallies,
    # a preview's sample) automatic correlation would reach only the EXISTS around it, and the
    # suppression check would ask "is anyone suppressed?" instead of "is this subscriber?".
    return and_(Subscription.subscriber_id == Subscriber.id, *_subscribed_to(list_ids), *_reachable(),
                ~_suppressed().correlate(Subscriber).exists())


#: ``OFFSET 0`` keeps an EXISTS a subplan run once per subscriber: PostgreSQL plans it on its own, as
#: a probe of the key it is given. Turned into a semi- or anti-join (what it does without the OFFSET)
#: a planner that has no statistics may cost a scan of the whole table as cheaper for each row
#: (tests/test_hot_plans.py saw ``suppression`` scanned once per recipient).
_PROBE = literal_column("0")


def sendable_subscriber(list_ids):
    """The same condition over ``Subscriber`` alone, for the subscriber(s) of given ids: one row per
    person however many of ``list_ids`` they are on, and each part a probe by key (the subscriber's
    subscriptions on those lists, its number on the suppression list) — never a walk of a list,
    whatever the planner knows (docs/performance.md)."""
    subscribed = (select(Subscription.id).where(Subscription.subscriber_id == Subscriber.id,
                                                *_subscribed_to(list_ids)).correlate(Subscriber).offset(_PROBE))
    return and_(*_reachable(), subscribed.exists(), ~_suppressed().correlate(Subscriber).offset(_PROBE).exists())


async def has_active_consent(session: AsyncSession, phone: str) -> bool:
    """May this number be texted by the company at all: sendable on any of the company's lists."""
    query = select(Subscription.id).join(Subscriber, Subscriber.id == Subscription.subscriber_id).where(
        Subscriber.phone == phone, sendable_condition(select(SubscriberList.id).scalar_subquery())
    ).limit(1)
    return await session.scalar(query) is not None


async def is_sendable(session: AsyncSession, subscriber_id: str, list_ids: list[str]) -> bool:
    query = select(Subscription.id).join(Subscriber, Subscriber.id == Subscription.subscriber_id).where(
        Subscriber.id == subscriber_id, sendable_condition(list_ids)
    ).limit(1)
    return await session.scalar(query) is not None
