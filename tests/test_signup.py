"""Self sign-up (issue 18): join keywords on a list's sender and the web form at /join/{slug}.

Each way in leaves a complete consent record (a keyword: channel, inbound SID, the text; a form: IP,
browser, page and the exact disclosure version), answers only with the list's reviewed confirmation
through the worker's provider gate, and keeps STOP first. Abuse: one keyword confirmation a day,
unserved countries refused, the form's CSRF token, honeypot and rate limits, and no reflected input.
"""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from sqlalchemy import delete, func, select

from app.audience import signup
from app.db import Database, migrations
from app.dispatch import outbound
from app.main import create_app
from app.models import (
    ConsentEvent,
    InboundMessage,
    OutboundText,
    SignupLimit,
    Subscriber,
    SubscriberList,
    Subscription,
)
from tests.conftest import OWNED
from tests.twilio_signing import inbound

PHONE = "+14155552671"
UK_MOBILE = "+447911123456"
SIGNUP = {"brand": "Acme Shoes", "purpose": "weekly shoe deals", "frequency": "Up to 4 msgs/month",
          "terms_url": "https://acme.example/terms", "privacy_url": "https://acme.example/privacy"}


@pytest.fixture
async def sender_id(client, admin):
    created = await client.post("/v1/senders", json={"kind": "long_code", "address": OWNED[0], "label": "Main"},
                                headers=admin.headers)
    await client.post(f"/v1/senders/{created.json()['id']}/verify", headers=admin.headers)
    return created.json()["id"]


async def make_list(client, marketer, sender_id, *, opt_in="double", approve_by=None, **fields) -> dict:
    payload = {"name": "Deals", "opt_in": opt_in, "sender_id": sender_id, **SIGNUP, **fields}
    made = await client.post("/v1/lists", json=payload, headers=marketer.headers)
    assert made.status_code == 201, made.text
    if approve_by is not None:
        approved = await client.post(f"/v1/lists/{made.json()['id']}/confirmation/review",
                                     json={"decision": "approve", "comment": "ok"}, headers=approve_by.headers)
        assert approved.status_code == 200, approved.text
    return made.json()


async def history(session, phone=PHONE) -> tuple[Subscriber | None, list[Subscription], list[ConsentEvent]]:
    session.expire_all()  # the requests changed these rows through their own sessions
    subscriber = await session.scalar(select(Subscriber).where(Subscriber.phone == phone))
    if subscriber is None:
        return None, [], []
    subscriptions = (await session.scalars(select(Subscription).where(Subscription.subscriber_id == subscriber.id))).all()
    events = (await session.scalars(select(ConsentEvent).where(ConsentEvent.subscriber_id == subscriber.id)
                                    .order_by(ConsentEvent.recorded_at, ConsentEvent.id))).all()
    return subscriber, list(subscriptions), list(events)


async def texts_to(session, phone=PHONE) -> list[OutboundText]:
    return list((await session.scalars(select(OutboundText).where(OutboundText.to == phone))).all())


# --- list configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "field", "code"), [
    ({"keywords": ["STOP"]}, "keywords.0", "keyword_refused"),
    ({"keywords": ["JOIN", "unsubscribe"]}, "keywords.1", "keyword_refused"),
    ({"keywords": ["Start"]}, "keywords.0", "keyword_refused"),
    ({"keywords": ["help"]}, "keywords.0", "keyword_refused"),
    ({"keywords": ["INFO"]}, "keywords.0", "keyword_refused"),
    ({"keywords": ["Y"]}, "keywords.0", "keyword_refused"),
    ({"keywords": ["quit"]}, "keywords.0", "keyword_refused"),
    ({"keywords": ["two words"]}, "keywords.0", "keyword_refused"),
    ({"keywords": ["JOIN", "join"]}, "keywords.1", None),
    ({"slug": "Bad Slug!"}, "slug", None),
    ({"slug": "deals", "terms_url": "javascript:alert(1)"}, "terms_url", None),
    ({"slug": "deals", "brand": "Acme <b>"}, "brand", None),
], ids=["stop", "unsubscribe", "start", "help", "info", "y", "quit", "two-words", "twice", "slug-shape",
        "terms-scheme", "brand-markup"])
async def test_bad_sign_up_settings_are_422_naming_the_field(client, marketer, sender_id, fields, field, code):
    response = await client.post("/v1/lists", json={"name": "Deals", "opt_in": "double", "sender_id": sender_id,
                                                    **SIGNUP, **fields}, headers=marketer.headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert field in [d["field"] for d in error["details"]]
    if code:
        assert error["code"] == code


async def test_sign_up_settings_need_their_disclosures_a_sender_and_a_double_opt_in_form(client, marketer, sender_id):
    async def create(**payload):
        return await client.post("/v1/lists", json={"name": "Deals", **payload}, headers=marketer.headers)

    no_brand = await create(opt_in="single", sender_id=sender_id, keywords=["JOIN"],
                            **{k: v for k, v in SIGNUP.items() if k != "brand"})
    assert no_brand.status_code == 422 and no_brand.json()["error"]["details"][0]["field"] == "brand"
    no_sender = await create(opt_in="single", keywords=["JOIN"], **SIGNUP)
    assert no_sender.status_code == 422 and no_sender.json()["error"]["details"][0]["field"] == "sender_id"
    single_form = await create(opt_in="single", sender_id=sender_id, slug="deals", **SIGNUP)
    assert single_form.status_code == 422 and single_form.json()["error"]["details"][0]["field"] == "opt_in"
    no_terms = await create(opt_in="double", sender_id=sender_id, slug="deals",
                            **{k: v for k, v in SIGNUP.items() if k != "terms_url"})
    assert no_terms.status_code == 422 and no_terms.json()["error"]["details"][0]["field"] == "terms_url"


async def test_a_keyword_is_unique_per_sender_and_a_slug_per_company(client, marketer, sender_id, session):
    first = await make_list(client, marketer, sender_id, keywords=["join", "Vip"], slug="deals")
    assert first["keywords"] == ["JOIN", "VIP"] and first["slug"] == "deals"
    assert first["brand"] == "Acme Shoes" and first["terms_url"] == SIGNUP["terms_url"]
    # The list's confirmation is built from its disclosures, and (its own text) waits for a review.
    for part in ("Acme Shoes", "weekly shoe deals", "Up to 4 msgs/month", "Msg & data rates may apply", "Reply Y",
                 "HELP", "STOP"):
        assert part in first["confirmation_text"]
    taken = await client.post("/v1/lists", json={"name": "Other", "opt_in": "single", "sender_id": sender_id,
                                                 **SIGNUP, "keywords": ["VIP"]}, headers=marketer.headers)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "keyword_taken"
    assert "VIP" in taken.json()["error"]["message"]
    slug = await client.post("/v1/lists", json={"name": "Other", "opt_in": "double", "sender_id": sender_id,
                                                **SIGNUP, "slug": "deals"}, headers=marketer.headers)
    assert slug.status_code == 409 and slug.json()["error"]["code"] == "slug_taken"
    assert await session.scalar(select(func.count()).select_from(Subscription)) == 0


async def test_a_custom_sign_up_confirmation_must_carry_the_disclosures(client, marketer, sender_id):
    bare = await client.post("/v1/lists", json={"name": "Deals", "opt_in": "single", "sender_id": sender_id,
                                                **SIGNUP, "keywords": ["JOIN"],
                                                "confirmation_text": "Acme Shoes: you're in! STOP to cancel"},
                             headers=marketer.headers)
    assert bare.status_code == 422 and "Msg & data rates may apply" in bare.json()["error"]["message"]


# --- keyword sign-up ------------------------------------------------------------------------------


async def test_a_keyword_join_subscribes_with_its_evidence_and_answers_with_the_reviewed_confirmation(
        client, marketer, reviewer, sender_id, session, db, provider):
    lst = await make_list(client, marketer, sender_id, opt_in="single", keywords=["JOIN"])
    # Until a reviewer other than the author approves the list's text, the keyword joins nobody.
    early = await inbound(client, "SM" + "0" * 32, PHONE, "JOIN")
    assert early.status_code == 200
    assert (await history(session))[0] is None and await texts_to(session) == []
    assert (await session.scalar(select(InboundMessage.classification).where(
        InboundMessage.message_sid == "SM" + "0" * 32))) == "reply"
    approved = await client.post(f"/v1/lists/{lst['id']}/confirmation/review",
                                 json={"decision": "approve", "comment": "ok"}, headers=reviewer.headers)
    assert approved.status_code == 200

    sid = "SM" + "1" * 32
    answer = await inbound(client, sid, PHONE, "Join!")
    assert answer.status_code == 200 and "<Message>" not in answer.text  # the text goes through the gate
    subscriber, [subscription], [event] = await history(session)
    assert subscription.list_id == lst["id"] and subscription.state == "subscribed"
    assert (event.kind, event.channel, event.inbound_sid, event.list_id) == ("opt_in", "keyword", sid, lst["id"])
    assert "Join!" in event.evidence and OWNED[0] in event.evidence
    assert subscription.consent_event_id == event.id
    [text] = await texts_to(session)
    assert text.sender_id == sender_id and text.body == lst["confirmation_text"]
    for part in ("Acme Shoes", "weekly shoe deals", "Up to 4 msgs/month", "Msg & data rates may apply", "HELP",
                 "STOP"):
        assert part in text.body
    assert (await session.scalar(select(InboundMessage.classification).where(
        InboundMessage.message_sid == sid))) == "join"
    counts = await outbound.send_queued(db, provider)
    assert counts["sent"] == 1 and [(m.to, m.body) for m in provider.sent] == [(PHONE, text.body)]


async def test_a_double_opt_in_keyword_list_asks_for_y_first(client, marketer, reviewer, sender_id, session):
    lst = await make_list(client, marketer, sender_id, keywords=["VIP"], approve_by=reviewer)
    await inbound(client, "SM" + "2" * 32, PHONE, "vip please")
    _, [subscription], [event] = await history(session)
    assert subscription.state == "pending" and event.channel == "keyword"
    [text] = await texts_to(session)
    assert "Reply Y to confirm" in text.body
    confirmed = await inbound(client, "SM" + "3" * 32, PHONE, "Y")
    assert confirmed.status_code == 200 and "subscribed" in confirmed.text
    _, [subscription], events = await history(session)
    assert subscription.state == "subscribed" and subscription.list_id == lst["id"]
    assert [(e.kind, e.inbound_sid) for e in events] == [("opt_in", "SM" + "2" * 32), ("confirm", "SM" + "3" * 32)]


async def test_stop_always_wins_over_a_join_keyword(client, marketer, reviewer, sender_id, session):
    await make_list(client, marketer, sender_id, opt_in="single", keywords=["JOIN"], approve_by=reviewer)
    await inbound(client, "SM" + "4" * 32, PHONE, "JOIN")
    stop = await inbound(client, "SM" + "5" * 32, PHONE, "JOIN, stop")  # a clause that is STOP
    assert stop.status_code == 200
    _, [subscription], events = await history(session)
    assert subscription.state == "unsubscribed" and events[-1].kind == "opt_out"
    assert (await session.scalar(select(InboundMessage.classification).where(
        InboundMessage.message_sid == "SM" + "5" * 32))) == "opt_out"


async def test_repeated_keywords_get_one_confirmation_a_day(client, marketer, reviewer, sender_id, session, db):
    await make_list(client, marketer, sender_id, opt_in="single", keywords=["JOIN"], approve_by=reviewer)
    other = await make_list(client, marketer, sender_id, opt_in="single", keywords=["VIP"], approve_by=reviewer)
    for index, word in enumerate(("JOIN", "join", "JOIN", "VIP")):
        assert (await inbound(client, f"SM{index:032d}", PHONE, word)).status_code == 200
    assert len(await texts_to(session)) == 1
    _, subscriptions, events = await history(session)
    assert other["id"] not in {s.list_id for s in subscriptions} and len(events) == 1
    # A day later the window has passed: one more confirmation.
    async with db.unit_of_work() as s:
        row = await s.get(SignupLimit, f"keyword:{PHONE}")
        row.window_start = row.window_start.replace(year=row.window_start.year - 1)
    await inbound(client, "SM" + "9" * 32, PHONE, "VIP")
    assert len(await texts_to(session)) == 2
    _, subscriptions, _ = await history(session)
    assert other["id"] in {s.list_id for s in subscriptions}


async def test_a_number_from_a_country_not_served_gets_no_subscription_and_no_text(
        client, marketer, reviewer, sender_id, session):
    await make_list(client, marketer, sender_id, opt_in="single", keywords=["JOIN"], approve_by=reviewer)
    answer = await inbound(client, "SM" + "6" * 32, UK_MOBILE, "JOIN")
    assert answer.status_code == 200 and "<Message>" not in answer.text
    assert (await history(session, UK_MOBILE))[0] is None and await texts_to(session, UK_MOBILE) == []


# --- the web form ---------------------------------------------------------------------------------


def form_token(page_html: str) -> tuple[str, str]:
    csrf = re.search(r'name="csrf" value="([^"]+)"', page_html).group(1)
    version = re.search(r'name="disclosure_id" value="([^"]+)"', page_html).group(1)
    return csrf, version


async def open_form(client, slug="deals") -> tuple[str, str, str]:
    page = await client.get(f"/join/{slug}")
    assert page.status_code == 200, page.text
    csrf, version = form_token(page.text)
    return page.cookies["fineline_join"], csrf, version


async def submit(client, slug="deals", *, cookie, csrf, version, phone=PHONE, consent="yes", honeypot="",
                 user_agent="TestBrowser/1.0"):
    fields = {"csrf": csrf, "disclosure_id": version, "phone": phone, "website": honeypot}
    if consent:
        fields["consent"] = consent
    return await client.post(f"/join/{slug}", data=fields, headers={
        "Cookie": f"fineline_join={cookie}", "User-Agent": user_agent})


async def test_the_form_page_discloses_everything_and_cannot_be_framed(client, marketer, reviewer, sender_id):
    unreviewed = await make_list(client, marketer, sender_id, slug="later")
    assert (await client.get("/join/later")).status_code == 404  # not open until the text is approved
    assert unreviewed["slug"] == "later"
    await make_list(client, marketer, sender_id, slug="deals", approve_by=reviewer)
    page = await client.get("/join/deals")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and "script-src" not in csp
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    assert "httponly" in page.headers["set-cookie"].lower() and "samesite=strict" in page.headers["set-cookie"].lower()
    checkbox = re.search(r'<input type="checkbox"[^>]*>', page.text).group(0)
    assert "checked" not in checkbox
    for part in ("Acme Shoes", "weekly shoe deals", "Up to 4 msgs/month", "Msg &amp; data rates may apply",
                 "Consent is not a condition of purchase", "STOP", "HELP", 'href="https://acme.example/terms"',
                 'href="https://acme.example/privacy"', 'name="website"'):
        assert part in page.text
    assert "http://" not in page.text.replace("https://", "")  # no external assets, only the two links
    assert (await client.get("/join/nothing-here")).status_code == 404


async def test_a_form_sign_up_leaves_a_complete_consent_record_and_waits_for_y(
        client, marketer, reviewer, sender_id, session, settings):
    lst = await make_list(client, marketer, sender_id, slug="deals", approve_by=reviewer)
    cookie, csrf, version = await open_form(client)
    done = await submit(client, cookie=cookie, csrf=csrf, version=version, phone="(415) 555-2671")
    assert done.status_code == 200 and "Reply Y" in done.text
    assert "555" not in done.text  # the number is never written back
    _, [subscription], [event] = await history(session)
    assert subscription.state == "pending" and subscription.list_id == lst["id"]
    assert (event.kind, event.channel, event.list_id) == ("opt_in", "web_form", lst["id"])
    assert event.ip == "127.0.0.1" and event.user_agent == "TestBrowser/1.0"
    assert event.page_url == f"{settings.public_base_url}/join/deals" and event.disclosure_id == version
    shown = await client.get(f"/v1/disclosures/{version}", headers=marketer.headers)
    assert shown.status_code == 200 and shown.json()["text"] == signup.disclosure_text(
        await session.get(SubscriberList, lst["id"]))
    assert "Consent is not a condition of purchase" in shown.json()["text"]
    [text] = await texts_to(session)
    assert text.body == lst["confirmation_text"] and "Reply Y" in text.body
    await inbound(client, "SM" + "7" * 32, PHONE, "Y")
    _, [subscription], events = await history(session)
    assert subscription.state == "subscribed" and [e.kind for e in events] == ["opt_in", "confirm"]
    export = await client.get(f"/v1/lists/{lst['id']}/export", headers=marketer.headers)
    assert "TestBrowser/1.0" in export.text and version in export.text


async def test_the_form_refuses_a_missing_or_foreign_csrf_token_and_stores_nothing(
        client, marketer, reviewer, sender_id, session):
    await make_list(client, marketer, sender_id, slug="deals", approve_by=reviewer)
    await make_list(client, marketer, sender_id, slug="other", approve_by=reviewer)
    cookie, csrf, version = await open_form(client)
    no_cookie = await client.post("/join/deals", data={"csrf": csrf, "disclosure_id": version, "phone": PHONE,
                                                       "consent": "yes"})
    assert no_cookie.status_code == 403
    wrong_cookie = await submit(client, cookie="someone-elses", csrf=csrf, version=version)
    assert wrong_cookie.status_code == 403
    other_page = await submit(client, "other", cookie=cookie, csrf=csrf, version=version)
    assert other_page.status_code == 403
    forged = await submit(client, cookie=cookie, csrf=csrf.split(".")[0] + "." + "0" * 64, version=version)
    assert forged.status_code == 403
    assert (await history(session))[0] is None and await texts_to(session) == []


async def test_the_honeypot_looks_like_success_and_stores_nothing(client, marketer, reviewer, sender_id, session):
    await make_list(client, marketer, sender_id, slug="deals", approve_by=reviewer)
    cookie, csrf, version = await open_form(client)
    bot = await submit(client, cookie=cookie, csrf=csrf, version=version, honeypot="http://spam.example")
    assert bot.status_code == 200 and "Check your phone" in bot.text
    assert (await history(session))[0] is None and await texts_to(session) == []


async def test_bad_form_input_is_422_and_never_reflected(client, marketer, reviewer, sender_id, session):
    await make_list(client, marketer, sender_id, slug="deals", approve_by=reviewer)
    cookie, csrf, version = await open_form(client)
    unticked = await submit(client, cookie=cookie, csrf=csrf, version=version, consent="")
    assert unticked.status_code == 422 and "tick the box" in unticked.text
    assert "2671" not in unticked.text and 'value="+1' not in unticked.text
    hostile = '"><script>alert(1)</script>4155550000'
    bad = await submit(client, cookie=cookie, csrf=csrf, version=version, phone=hostile)
    assert bad.status_code == 422 and "receive text messages" in bad.text
    assert "<script>" not in bad.text and "alert(1)" not in bad.text and "4155550000" not in bad.text
    foreign = await submit(client, cookie=cookie, csrf=csrf, version=version, phone=UK_MOBILE)
    assert foreign.status_code == 422 and "country" in foreign.text and "7911" not in foreign.text
    stale = await submit(client, cookie=cookie, csrf=csrf, version="0" * 64)
    assert stale.status_code == 409
    assert (await history(session))[0] is None and (await history(session, UK_MOBILE))[0] is None
    assert await session.scalar(select(func.count()).select_from(OutboundText)) == 0


@pytest.fixture
async def strict_client(settings, db, provider):
    """The app with small sign-up limits: two form posts per IP an hour, two sign-ups per number a day."""
    strict = settings.model_copy(update={"signup_per_ip_per_hour": 3, "signup_per_number_per_day": 2})
    app = create_app(strict, database=db, provider=provider)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fineline.test") as c:
        yield c


async def test_the_form_is_limited_per_number_and_per_ip_with_retry_after(
        client, strict_client, marketer, reviewer, sender_id, session):
    await make_list(client, marketer, sender_id, slug="deals", approve_by=reviewer)
    cookie, csrf, version = await open_form(strict_client)
    for _ in range(2):
        assert (await submit(strict_client, cookie=cookie, csrf=csrf, version=version)).status_code == 200
    third = await submit(strict_client, cookie=cookie, csrf=csrf, version=version)
    assert third.status_code == 429 and 0 < int(third.headers["retry-after"]) <= 86_400
    assert "2671" not in third.text
    assert len(await texts_to(session)) == 2  # asked again while pending, then no more
    fourth = await submit(strict_client, cookie=cookie, csrf=csrf, version=version, phone="+14155552672")
    assert fourth.status_code == 429 and 0 < int(fourth.headers["retry-after"]) <= 3600  # the IP's 4th this hour
    assert (await history(session, "+14155552672"))[0] is None


# --- the counter under concurrency (real connections) ---------------------------------------------


def test_concurrent_attempts_each_count_once(scratch_database_url):
    migrations.upgrade(scratch_database_url)
    asyncio.run(_concurrent_hits(scratch_database_url))


async def _concurrent_hits(url):
    databases = [Database.from_url(url) for _ in range(4)]
    try:
        async def attempt(db):
            async with db.unit_of_work() as session:
                return await signup.hit(session, "keyword:+14155552671", limit=1, window_seconds=signup.DAY)

        outcomes = await asyncio.gather(*(attempt(db) for db in databases for _ in range(2)))
        assert sum(1 for o in outcomes if o is None) == 1  # exactly one confirmation wins the day
        async with databases[0].session() as session:
            assert (await session.get(SignupLimit, "keyword:+14155552671")).hits == 8
        async with databases[0].unit_of_work() as session:
            await session.execute(delete(SignupLimit))
    finally:
        for db in databases:
            await db.dispose()
