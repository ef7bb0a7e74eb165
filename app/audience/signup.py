"""Self sign-up: a join keyword texted to a list's sender, and the web form at ``/join/{slug}``.

Both keep the invariants of any other way in (docs/design.md, invariants 2 and 8): the consent is
recorded with its proof in the append-only ledger (a keyword: channel ``keyword``, the inbound SID
and the text; a form: the IP, the browser, the page and the exact disclosure shown, by version),
the answer is the list's own confirmation text, which a reviewer other than its author approved
before anyone can join, and it leaves through the worker's one provider gate (``outbound.py``:
verified company sender, skipped if the number opted out meanwhile). A form never subscribes
anyone by itself: a sign-up list with a form is a double opt-in list, so the person's Y decides.

Abuse: numbers from countries the company does not serve (``FINELINE_SERVED_COUNTRIES``) get no
subscription and no text; a number texting join keywords gets one confirmation a day; the form is
limited per IP and per number (``hit``, a fixed-window counter safe under concurrent requests).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audience import keywords, phones, service, texts
from app.config import Settings
from app.db.base import utcnow
from app.db.upsert import insert_for, insert_ignore
from app.errors import Invalid, NotFound
from app.models import Disclosure, ListKeyword, Sender, SignupLimit, Subscriber, SubscriberList, Subscription
from app.vocab.audience import ConsentSource, SubscriptionState

KEYWORD_CONFIRMATIONS_PER_DAY = 1
DAY = 86_400
HOUR = 3_600

_limits = SignupLimit.__table__


async def hit(session: AsyncSession, key: str, *, limit: int, window_seconds: int,
              now: datetime | None = None) -> int | None:
    """Count one attempt under ``key``; None while within ``limit`` per window, else the seconds until
    the window ends (for Retry-After). One INSERT … ON CONFLICT DO UPDATE … RETURNING: concurrent
    attempts each see their own count, none is lost."""
    now = now or utcnow()
    connection = await session.connection()
    statement = insert_for(connection.dialect.name, _limits).values(key=key, window_start=now, hits=1)
    expired = _limits.c.window_start <= bindparam("p_cutoff", type_=_limits.c.window_start.type)
    statement = statement.on_conflict_do_update(index_elements=["key"], set_={
        "hits": case((expired, 1), else_=_limits.c.hits + 1),
        "window_start": case((expired, statement.excluded.window_start), else_=_limits.c.window_start),
    }).returning(_limits.c.hits, _limits.c.window_start)
    hits, started = (await connection.execute(
        statement, {"p_cutoff": now - timedelta(seconds=window_seconds)})).one()
    if hits <= limit:
        return None
    return max(1, int((started + timedelta(seconds=window_seconds) - now).total_seconds() + 0.999))


def served(phone: str, settings: Settings) -> bool:
    """Does the company serve the country of this (E.164) number?"""
    return phones.region_of(phone) in settings.served_regions


def disclosure_text(lst: SubscriberList) -> str:
    return texts.disclosure(lst.brand or "", lst.purpose or "", lst.frequency or "", lst.terms_url or "",
                            lst.privacy_url or "")


def disclosure_id(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- keywords -------------------------------------------------------------------------------------


async def find_join(session: AsyncSession, *, to: str, messaging_service_sid: str | None,
                    body: str) -> SubscriberList | None:
    """The list whose join keyword this text is, on the sender it was texted to; None when it is not
    one, or the list's confirmation text still waits for its review (the text then goes to the inbox)."""
    word = keywords.join_candidate(body)
    addresses = [address for address in (messaging_service_sid, to) if address]
    if word is None or not addresses:
        return None
    lst = await session.scalar(
        select(SubscriberList).join(ListKeyword, ListKeyword.list_id == SubscriberList.id)
        .join(Sender, Sender.id == ListKeyword.sender_id)
        .where(Sender.address.in_(addresses), ListKeyword.keyword == word).limit(1))
    if lst is None or service.confirmation_waits_for_review(lst):
        return None
    return lst


async def keyword_join(session: AsyncSession, lst: SubscriberList, *, phone: str, body: str, to: str, sid: str,
                       settings: Settings) -> str:
    """A join keyword from ``phone``: subscribe it (pending, for a double opt-in list) with the keyword's
    evidence and queue the list's confirmation. Returns what happened: ``queued``, ``not_served``,
    ``throttled`` (a confirmation went to this number in the last day: nothing changes) or ``invalid``."""
    try:
        phone = phones.normalize(phone, settings.default_region)
    except phones.InvalidPhone:
        return "invalid"
    if not served(phone, settings):
        return "not_served"
    if await hit(session, f"keyword:{phone}", limit=KEYWORD_CONFIRMATIONS_PER_DAY, window_seconds=DAY) is not None:
        return "throttled"
    subscriber, subscription, _ = await service.add_subscriber(
        session, lst, phone=phone, first_name=None, attributes=None, time_zone=None, source=ConsentSource.KEYWORD,
        evidence=f"texted {body.strip()[:60]!r} to {to}", consented_at=utcnow(), ip=None, actor=None,
        settings=settings, inbound_sid=sid, queue_text=False)
    await _answer(session, lst, subscriber, subscription, settings)
    return "queued"


async def _answer(session: AsyncSession, lst: SubscriberList, subscriber: Subscriber, subscription: Subscription,
                  settings: Settings) -> None:
    if subscription.state in (SubscriptionState.PENDING, SubscriptionState.SUBSCRIBED):
        service.queue_confirmation(session, lst, subscriber, settings)
        await session.flush()


# --- the web form ---------------------------------------------------------------------------------


async def form_list(session: AsyncSession, slug: str) -> SubscriberList:
    """The list behind ``/join/{slug}``: 404 for none, and for one whose confirmation is not approved yet."""
    lst = await session.scalar(select(SubscriberList).where(SubscriberList.slug == slug))
    if lst is None or service.confirmation_waits_for_review(lst):
        raise NotFound("no sign-up page here")
    return lst


def form_phone(raw: str, settings: Settings) -> str:
    """The number typed in the form in E.164; 422 (without repeating it) if it cannot sign up."""
    try:
        phone = phones.normalize(raw, settings.default_region)
    except phones.InvalidPhone as exc:
        raise Invalid("that number cannot receive text messages", field="phone", code="invalid_phone") from exc
    if not served(phone, settings):
        raise Invalid("we do not send texts to numbers in that country", field="phone", code="country_not_served")
    return phone


async def form_signup(session: AsyncSession, lst: SubscriberList, *, phone: str, ip: str | None,
                      user_agent: str | None, page_url: str, disclosure: str, settings: Settings) -> Subscription:
    """Record a form's consent (its proof, and the exact disclosure by version) and ask for Y by text.

    The list is a double opt-in list (a form list must be), so the subscription stays pending until
    the person replies Y from that phone. A sign-up of a number already pending asks again; one
    already subscribed changes nothing and sends nothing."""
    version = disclosure_id(disclosure)
    await insert_ignore(session, Disclosure, {"id": version, "list_id": lst.id, "text": disclosure,
                                              "created_at": utcnow()}, conflict=["id"])
    subscriber, subscription, _ = await service.add_subscriber(
        session, lst, phone=phone, first_name=None, attributes=None, time_zone=None, source=ConsentSource.WEB_FORM,
        evidence=f"web form {page_url}", consented_at=utcnow(), ip=ip, actor=None, settings=settings,
        user_agent=(user_agent or "")[:500] or None, page_url=page_url, disclosure_id=version, queue_text=False)
    if subscription.state == SubscriptionState.PENDING:
        await _answer(session, lst, subscriber, subscription, settings)
    return subscription


async def get_disclosure(session: AsyncSession, disclosure_id: str) -> Disclosure:
    found = await session.get(Disclosure, disclosure_id)
    if found is None:
        raise NotFound(f"no disclosure version {disclosure_id}")
    return found
