"""Lists and subscribers: add with consent, show the history, erase. Services flush; callers commit."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audience import attributes, consent, keywords, phones, texts
from app.audit.service import record
from app.config import Settings
from app.db.base import utcnow
from app.errors import Conflict, Invalid, NotFound
from app.models import (
    ConsentEvent,
    Link,
    LinkClick,
    ListKeyword,
    Message,
    OutboundText,
    Sender,
    Subscriber,
    SubscriberList,
    Subscription,
    User,
)
from app.pagination import keyset
from app.vocab.audience import SubscriptionState


async def get_list(session: AsyncSession, list_id: str, *, lock: bool = False) -> SubscriberList:
    found = await session.get(SubscriberList, list_id, with_for_update=lock or None)
    if found is None:
        raise NotFound(f"no list with id {list_id}")
    return found


async def create_list(session: AsyncSession, *, name: str, opt_in: str, sender_id: str | None,
                      confirmation_text: str | None, actor: User, signup: dict | None = None) -> SubscriberList:
    """A list; with ``signup`` (keywords, slug, brand, purpose, frequency, terms_url, privacy_url) one that
    people can join themselves by texting a keyword or through the form at ``/join/{slug}``."""
    signup = {k: v for k, v in (signup or {}).items() if v not in (None, [], "")}
    if sender_id is not None:
        sender = await session.get(Sender, sender_id)
        if sender is None:
            raise Invalid(f"no sender with id {sender_id}", field="sender_id")
        if not sender.is_verified:
            raise Invalid(f"sender {sender.address} is {sender.state}: a list's sender must be a verified company sender",
                          field="sender_id", code="sender_not_verified")
    elif opt_in == "double":
        raise Invalid("a double opt-in list needs a sender_id: the confirmation text is sent from it", field="sender_id")
    words = await _check_signup(session, signup, opt_in=opt_in, sender_id=sender_id)
    if signup:
        if confirmation_text is None:
            confirmation_text = texts.signup_confirmation(signup["brand"], signup["purpose"], signup["frequency"],
                                                          double=opt_in == "double")
        else:
            problem = texts.check_signup_confirmation(confirmation_text, signup["brand"], double=opt_in == "double")
            if problem:
                raise Invalid(problem, field="confirmation_text")
    elif confirmation_text is not None:
        problem = texts.check_custom_confirmation(confirmation_text)
        if problem:
            raise Invalid(problem, field="confirmation_text")
    lst = SubscriberList(name=name, opt_in=opt_in, sender_id=sender_id, confirmation_text=confirmation_text,
                         created_by_id=actor.id, **{k: v for k, v in signup.items() if k != "keywords"})
    session.add(lst)
    await session.flush()
    session.add_all(ListKeyword(list_id=lst.id, sender_id=sender_id, keyword=word) for word in words)
    await session.flush()
    record(session, "list.created", actor=actor, target_type="list", target_id=lst.id, name=name, opt_in=opt_in,
           keywords=[w.upper() for w in words], slug=signup.get("slug"))
    return lst


_DISCLOSURE_FIELDS = ("brand", "purpose", "frequency")


async def _check_signup(session: AsyncSession, signup: dict, *, opt_in: str, sender_id: str | None) -> list[str]:
    """Validate a list's sign-up settings; the join keywords, normalised (lower case)."""
    if not signup:
        return []
    for name in _DISCLOSURE_FIELDS:
        if name not in signup:
            raise Invalid(f"a list people sign up to themselves needs its {name} for the disclosures", field=name)
    if sender_id is None:
        raise Invalid("a sign-up list needs a sender_id: keywords are texted to it and confirmations sent from it",
                      field="sender_id")
    slug = signup.get("slug")
    if slug is not None:
        if opt_in != "double":
            raise Invalid("a list with a sign-up form must be double opt-in: the form never subscribes anyone "
                          "by itself, the person's Y by text does", field="opt_in")
        for name in ("terms_url", "privacy_url"):
            if name not in signup:
                raise Invalid(f"a sign-up form links to the {name.split('_')[0]}: {name} is required", field=name)
        if await session.scalar(select(SubscriberList.id).where(SubscriberList.slug == slug)) is not None:
            raise Conflict(f"the sign-up page /join/{slug} belongs to another list", code="slug_taken")
    words: list[str] = []
    for index, raw in enumerate(signup.get("keywords", [])):
        problem = keywords.keyword_problem(raw)
        if problem:
            raise Invalid(problem, field=f"keywords.{index}", code="keyword_refused")
        word = raw.strip().lower()
        if word in words:
            raise Invalid(f"the keyword {raw!r} is given twice", field=f"keywords.{index}")
        words.append(word)
    if words:
        taken = (await session.scalars(select(ListKeyword.keyword).where(
            ListKeyword.sender_id == sender_id, ListKeyword.keyword.in_(words)))).all()
        if taken:
            raise Conflict(f"the keyword {taken[0].upper()} already joins another list on this sender; a keyword "
                           "is unique per sender", code="keyword_taken")
    return words


async def keywords_by_list(session: AsyncSession, list_ids: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {list_id: [] for list_id in list_ids}
    if list_ids:
        rows = await session.execute(select(ListKeyword.list_id, ListKeyword.keyword)
                                     .where(ListKeyword.list_id.in_(list_ids)).order_by(ListKeyword.keyword))
        for list_id, word in rows:
            found[list_id].append(word.upper())
    return found


def confirmation_waits_for_review(lst: SubscriberList) -> bool:
    """A list's own confirmation text (a double opt-in list's, or any sign-up list's: its texts are
    built from the list's own disclosures) is sent only once a reviewer other than its author approved it."""
    return (lst.confirmation_text is not None and lst.confirmation_approved_at is None
            and (lst.opt_in == "double" or lst.brand is not None))


def require_reviewed_confirmation(lst: SubscriberList) -> None:
    """A double opt-in list's own confirmation text goes to every number added, so it is reviewed like
    a campaign body: nobody is added (and no text queued) until a reviewer other than its author
    approved it (``POST /v1/lists/{id}/confirmation/review``). The standard text needs no review.
    A sign-up list's text (keywords, form) is the list's own too, whether single or double opt-in."""
    if confirmation_waits_for_review(lst):
        raise Conflict(f"list {lst.id}'s own confirmation text has not been approved yet; a reviewer other than its "
                       f"author approves it (POST /v1/lists/{lst.id}/confirmation/review) before anyone is added",
                       code="confirmation_not_approved")


async def list_lists(session: AsyncSession, *, limit: int, cursor: str | None) -> list[SubscriberList]:
    return await keyset(session, SubscriberList, limit=limit, cursor=cursor)


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
    inbound_sid: str | None = None,
    user_agent: str | None = None,
    page_url: str | None = None,
    disclosure_id: str | None = None,
    queue_text: bool = True,
) -> tuple[Subscriber, Subscription, bool]:
    """Add one consenting person to a list. Returns (subscriber, subscription, changed).

    ``inbound_sid``, ``user_agent``, ``page_url`` and ``disclosure_id`` are the rest of a sign-up's
    proof; ``queue_text=False`` leaves the confirmation text to the caller (app/audience/signup.py)."""
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
                                 list_id=lst.id, evidence=evidence, ip=ip, actor_id=actor.id if actor else None,
                                 inbound_sid=inbound_sid, user_agent=user_agent, page_url=page_url,
                                 disclosure_id=disclosure_id)
    await session.flush()
    target = SubscriptionState.PENDING if lst.opt_in == "double" else SubscriptionState.SUBSCRIBED
    if subscription is None:
        subscription = Subscription(list_id=lst.id, subscriber_id=subscriber.id, state=target,
                                    consent_event_id=event.id)
        session.add(subscription)
    else:
        subscription.state, subscription.consent_event_id, subscription.updated_at = target, event.id, utcnow()
    if target == SubscriptionState.PENDING and queue_text:
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
    # Their tracked links stop resolving and forget their destinations (a rendered URL may carry their
    # values); their clicks keep the time and the kind, not the user agent or the network.
    await session.execute(update(Link).where(Link.message_id.in_(
        select(Message.id).where(Message.subscriber_id == subscriber.id))).values(destination="", expires_at=now))
    await session.execute(update(LinkClick).where(LinkClick.subscriber_id == subscriber.id)
                          .values(user_agent=None, ip=None))
    await consent.opt_out(session, subscriber.phone, channel="api", reason="erased at the company's request", at=now)
    record(session, "subscriber.erased", actor=actor, target_type="subscriber", target_id=subscriber.id)
    await session.flush()
    await session.refresh(subscriber, ["opted_out_at"])  # set by opt_out's Core statements, not through this object
    return subscriber
