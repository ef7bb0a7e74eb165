"""Lists and subscribers: add with consent, show the history, erase. Services flush; callers commit."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audience import attributes, consent, phones, texts
from app.audit.service import record
from app.config import Settings
from app.db.base import utcnow
from app.errors import Conflict, Invalid, NotFound
from app.models import ConsentEvent, OutboundText, Sender, Subscriber, SubscriberList, Subscription, User
from app.vocab.audience import SubscriptionState


async def get_list(session: AsyncSession, list_id: str, *, lock: bool = False) -> SubscriberList:
    found = await session.get(SubscriberList, list_id, with_for_update=lock or None)
    if found is None:
        raise NotFound(f"no list with id {list_id}")
    return found


async def create_list(session: AsyncSession, *, name: str, opt_in: str, sender_id: str | None,
                      confirmation_text: str | None, actor: User) -> SubscriberList:
    if sender_id is not None:
        sender = await session.get(Sender, sender_id)
        if sender is None:
            raise Invalid(f"no sender with id {sender_id}", field="sender_id")
        if not sender.is_verified:
            raise Invalid(f"sender {sender.address} is {sender.state}: a list's sender must be a verified company sender",
                          field="sender_id", code="sender_not_verified")
    elif opt_in == "double":
        raise Invalid("a double opt-in list needs a sender_id: the confirmation text is sent from it", field="sender_id")
    if confirmation_text is not None:
        problem = texts.check_custom_confirmation(confirmation_text)
        if problem:
            raise Invalid(problem, field="confirmation_text")
    lst = SubscriberList(name=name, opt_in=opt_in, sender_id=sender_id, confirmation_text=confirmation_text,
                         created_by_id=actor.id)
    session.add(lst)
    await session.flush()
    record(session, "list.created", actor=actor, target_type="list", target_id=lst.id, name=name, opt_in=opt_in)
    return lst


def require_reviewed_confirmation(lst: SubscriberList) -> None:
    """A double opt-in list's own confirmation text goes to every number added, so it is reviewed like
    a campaign body: nobody is added (and no text queued) until a reviewer other than its author
    approved it (``POST /v1/lists/{id}/confirmation/review``). The standard text needs no review."""
    if lst.opt_in == "double" and lst.confirmation_text is not None and lst.confirmation_approved_at is None:
        raise Conflict(f"list {lst.id}'s own confirmation text has not been approved yet; a reviewer other than its "
                       f"author approves it (POST /v1/lists/{lst.id}/confirmation/review) before anyone is added",
                       code="confirmation_not_approved")


async def list_lists(session: AsyncSession, *, limit: int, cursor: str | None) -> list[SubscriberList]:
    query = select(SubscriberList).order_by(SubscriberList.id).limit(limit)
    if cursor:
        query = query.where(SubscriberList.id > cursor)
    return list((await session.scalars(query)).all())


async def counts_by_state(session: AsyncSession, list_ids: list[str]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {lid: {SubscriptionState.PENDING: 0, SubscriptionState.SUBSCRIBED: 0, SubscriptionState.UNSUBSCRIBED: 0} for lid in list_ids}
    if not list_ids:
        return counts
    rows = await session.execute(
        select(Subscription.list_id, Subscription.state, func.count())
        .where(Subscription.list_id.in_(list_ids))
        .group_by(Subscription.list_id, Subscription.state)
    )
    for list_id, state, count in rows:
        counts[list_id][state] = count
    return counts


def normalize_phone(raw: str, settings: Settings, *, field: str = "phone") -> str:
    try:
        return phones.normalize(raw, settings.default_region)
    except phones.InvalidPhone as exc:
        raise Invalid(f"{raw!r} cannot receive SMS: {exc.reason}", field=field, code="invalid_phone") from exc


def zones_for(phone: str, given: str | None, settings: Settings) -> tuple[str, list[str], str | None]:
    """(display zone, every candidate zone for quiet hours, US state) for a number."""
    state = phones.us_state_for(phone)
    if given:
        try:
            ZoneInfo(given)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise Invalid(f"unknown time zone {given!r}; use an IANA name such as America/New_York",
                          field="time_zone") from exc
        return given, [given], state
    zones = phones.candidate_time_zones(phone, settings.default_region)
    return phones.time_zone_for(phone, settings.default_region), zones, state


async def add_subscriber(
    session: AsyncSession,
    lst: SubscriberList,
    *,
    phone: str,
    first_name: str | None,
    attributes: dict | None,
    time_zone: str | None,
    source: str,
    evidence: str,
    consented_at: datetime,
    ip: str | None,
    actor: User | None,
    settings: Settings,
) -> tuple[Subscriber, Subscription, bool]:
    """Add one consenting person to a list. Returns (subscriber, subscription, changed)."""
    require_reviewed_confirmation(lst)
    phone = normalize_phone(phone, settings)
    if consented_at > utcnow():
        raise Invalid("consented_at is in the future", field="consent.consented_at")
    suppression = await consent.active_suppression(session, phone)
    opted_out_at = await consent.last_opt_out_at(session, phone)
    if opted_out_at is not None and consented_at <= opted_out_at:
        # Checked whether or not the suppression was lifted since: old consent never outlives a STOP.
        raise Conflict(
            f"{phone} opted out on {opted_out_at.date().isoformat()}; only consent given after that "
            "(with its evidence) can resubscribe it",
            code="opted_out",
        )
    display_zone, zones, state = zones_for(phone, time_zone, settings)
    subscriber = await session.scalar(select(Subscriber).where(Subscriber.phone == phone))
    if subscriber is None:
        subscriber = Subscriber(phone=phone, first_name=first_name, attributes=attributes or {},
                                time_zone=display_zone, time_zones=zones, us_state=state)
        session.add(subscriber)
        await session.flush()
    else:
        if first_name is not None:
            subscriber.first_name = first_name
        if attributes:
            subscriber.attributes = {**(subscriber.attributes or {}), **attributes}
        if time_zone:
            subscriber.time_zone, subscriber.time_zones = display_zone, zones
        subscriber.erased_at = None
    if suppression is not None:  # explicit new consent, given after the opt-out, lifts it (this list only)
        await consent.lift(session, phone, at=utcnow())
    subscription = await session.scalar(
        select(Subscription).where(Subscription.list_id == lst.id, Subscription.subscriber_id == subscriber.id)
    )
    if subscription is not None and subscription.state in (SubscriptionState.PENDING, SubscriptionState.SUBSCRIBED):
        return subscriber, subscription, False
    event = consent.record_event(session, subscriber, "opt_in", channel=source, consented_at=consented_at,
                                 list_id=lst.id, evidence=evidence, ip=ip, actor_id=actor.id if actor else None)
    await session.flush()
    target = SubscriptionState.PENDING if lst.opt_in == "double" else SubscriptionState.SUBSCRIBED
    if subscription is None:
        subscription = Subscription(list_id=lst.id, subscriber_id=subscriber.id, state=target,
                                    consent_event_id=event.id)
        session.add(subscription)
    else:
        subscription.state, subscription.consent_event_id, subscription.updated_at = target, event.id, utcnow()
    if target == SubscriptionState.PENDING:
        queue_confirmation(session, lst, subscriber, settings)
    await session.flush()
    return subscriber, subscription, True


def queue_confirmation(session: AsyncSession, lst: SubscriberList, subscriber: Subscriber, settings: Settings) -> None:
    body = lst.confirmation_text or texts.confirmation(settings.brand_name, lst.name)
    session.add(OutboundText(purpose="confirmation", sender_id=lst.sender_id, subscriber_id=subscriber.id,
                             to=subscriber.phone, body=body))


async def get_subscriber(session: AsyncSession, subscriber_id: str, *, lock: bool = False) -> Subscriber:
    subscriber = await session.get(Subscriber, subscriber_id, with_for_update=lock or None)
    if subscriber is None:
        raise NotFound(f"no subscriber with id {subscriber_id}")
    return subscriber


async def list_members(session: AsyncSession, lst: SubscriberList, *, state: str | None, limit: int,
                       after: str | None) -> list[tuple[Subscriber, Subscription]]:
    """A keyset page of the list's subscribers in subscriber-id order (after subscriber id ``after``),
    optionally in one subscription state: a walk of the list's index from the cursor, never an OFFSET."""
    query = (select(Subscriber, Subscription).join(Subscription, Subscription.subscriber_id == Subscriber.id)
             .where(Subscription.list_id == lst.id).order_by(Subscription.subscriber_id).limit(limit))
    if state is not None:
        query = query.where(Subscription.state == state)
    if after:
        query = query.where(Subscription.subscriber_id > after)
    return [(subscriber, subscription) for subscriber, subscription in (await session.execute(query)).all()]


async def find_by_phone(session: AsyncSession, raw: str, settings: Settings) -> list[Subscriber]:
    """The subscriber with this number, written in any format (normalised as at import): one at
    most, since a number is one person for the company."""
    phone = normalize_phone(raw, settings)
    return list((await session.scalars(select(Subscriber).where(Subscriber.phone == phone))).all())


async def edit_subscriber(session: AsyncSession, subscriber: Subscriber, changes: dict, *, actor: User,
                          settings: Settings) -> Subscriber:
    """Change a subscriber's first name, attributes (merged; a null value removes the key) and time
    zone. Audited by field and attribute name, never by value (the audit log outlives an erasure).

    A value rendered into an approved campaign is not re-reviewed here: like an import's, it is held
    against what the approval bound right before sending (``app.campaigns.variants``), so a changed
    value nobody reviewed skips that one message instead of going out."""
    if subscriber.erased_at is not None:
        raise Conflict(f"subscriber {subscriber.id} was erased; their personal data cannot be set again "
                       "(add them to a list with new consent instead)", code="subscriber_erased")
    changed: dict[str, object] = {}
    if "first_name" in changes and changes["first_name"] != subscriber.first_name:
        subscriber.first_name = changes["first_name"]
        changed["first_name"] = True
    if "attributes" in changes:
        current = dict(subscriber.attributes or {})
        merged = {**current, **{k: v for k, v in changes["attributes"].items() if v is not None}}
        for key, value in changes["attributes"].items():
            if value is None:
                merged.pop(key, None)
        if len(merged) > attributes.MAX_ATTRIBUTES:
            raise Invalid(f"the subscriber would have {len(merged)} attributes; at most {attributes.MAX_ATTRIBUTES}",
                          field="attributes")
        missing = object()
        keys = sorted(k for k in set(current) | set(merged) if current.get(k, missing) != merged.get(k, missing))
        if keys:
            subscriber.attributes = merged
            changed["attributes"] = keys
    if "time_zone" in changes:
        zone, zones, _ = zones_for(subscriber.phone, changes["time_zone"], settings)
        if (zone, zones) != (subscriber.time_zone, list(subscriber.time_zones or [])):
            subscriber.time_zone, subscriber.time_zones = zone, zones
            changed["time_zone"] = zone
    if changed:
        record(session, "subscriber.edited", actor=actor, target_type="subscriber", target_id=subscriber.id,
               **changed)
    await session.flush()
    return subscriber


async def history(session: AsyncSession, subscriber: Subscriber) -> tuple[list[Subscription], list[ConsentEvent]]:
    subscriptions = (await session.scalars(
        select(Subscription).where(Subscription.subscriber_id == subscriber.id).order_by(Subscription.id)
    )).all()
    events = (await session.scalars(
        select(ConsentEvent).where(ConsentEvent.subscriber_id == subscriber.id).order_by(ConsentEvent.id)
    )).all()
    return list(subscriptions), list(events)


async def erase(session: AsyncSession, subscriber: Subscriber, *, actor: User) -> Subscriber:
    """Erase personal data; keep the number on the suppression list so nothing can resubscribe it quietly."""
    now = utcnow()
    subscriber.first_name = None
    subscriber.attributes = {}
    subscriber.erased_at = now
    await consent.opt_out(session, subscriber.phone, channel="api", reason="erased at the company's request", at=now)
    record(session, "subscriber.erased", actor=actor, target_type="subscriber", target_id=subscriber.id)
    await session.flush()
    await session.refresh(subscriber, ["opted_out_at"])  # set by opt_out's Core statements, not through this object
    return subscriber
