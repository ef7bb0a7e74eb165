"""Tracked links end to end: rewritten per recipient at send time (sandbox and the Twilio double),
resolved by GET /<token> with one 302, clicks recorded behind the redirect, previewers never counted
as people, the review counting what is sent."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from urllib.parse import parse_qs

import httpx
import pytest
from sqlalchemy import func, select, update

from app.db.base import utcnow
from app.links import service as links_service
from app.links.router import recorder_of
from app.main import create_app
from app.models import Link, LinkClick, Message
from app.providers.twilio import TwilioProvider
from tests.dispatch_world import build, drain
from tests.unit.test_links_policy import BROWSERS, PREVIEWERS

DOMAIN = "https://acme.link"
BODY = ("Fineline Demo Co: Hi {first_name|there}, fall sale: https://shop.acme.com/fall?utm=sms. "
        "Stores: www.acme.com/stores. Reply STOP to opt out.")
LINK = re.compile(re.escape(DOMAIN) + r"/([A-Za-z0-9_-]{16})")
IPHONE = BROWSERS[0]


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"link_domain": DOMAIN})


async def _links(session, campaign_id):
    session.expire_all()
    return (await session.scalars(select(Link).where(Link.campaign_id == campaign_id)
                                  .order_by(Link.message_id, Link.position))).all()


async def _clicks(session, campaign_id):
    session.expire_all()
    return (await session.scalars(select(LinkClick).where(LinkClick.campaign_id == campaign_id)
                                  .order_by(LinkClick.id))).all()


async def _delivered_minutes_ago(session, campaign_id, minutes=5):
    await session.execute(update(Message).where(Message.campaign_id == campaign_id)
                          .values(delivered_at=utcnow() - timedelta(minutes=minutes)))
    await session.commit()


async def click(client, app, settings, token, agent, method="GET"):
    """One request, then the click writer drained (the test database is one connection: nothing else
    may use it while the writer does)."""
    response = await client.request(method, f"/{token}", headers={"user-agent": agent or ""})
    await recorder_of(app.state, settings).flush()
    return response


async def test_each_recipient_gets_own_links_and_one_hop_to_the_reviewed_destination(
        client, app, admin, marketer, reviewer, db, provider, settings, session):
    world = await build(client, admin, marketer, reviewer, body=BODY)
    campaign_id = world["campaign"]["id"]
    assert await drain(db, provider, settings) == 3
    bodies = {m.to: m.body for m in provider.sent}
    assert all("shop.acme.com" not in b and "www.acme.com" not in b for b in bodies.values())
    tokens = {to: LINK.findall(body) for to, body in bodies.items()}
    assert all(len(found) == 2 for found in tokens.values())
    assert len({t for found in tokens.values() for t in found}) == 6  # nobody's token is another's
    rows = await _links(session, campaign_id)
    assert len(rows) == 6
    by_token = {row.token: row for row in rows}
    messages = dict((await session.execute(select(Message.to, Message.id)
                                           .where(Message.campaign_id == campaign_id))).all())
    for to, (first, second) in tokens.items():
        assert (by_token[first].destination, by_token[first].position) == ("https://shop.acme.com/fall?utm=sms", 0)
        assert (by_token[second].destination, by_token[second].position) == ("https://www.acme.com/stores", 1)
        assert by_token[first].message_id == messages[to]
        assert by_token[first].subscriber_id == world["subscribers"][to]
        ttl = by_token[first].expires_at - by_token[first].created_at
        assert ttl == timedelta(days=90)
    # The body as sent is exactly the approved one with its links replaced.
    sample = bodies["+14155552671"]
    assert LINK.sub("URL", sample) == ("Fineline Demo Co: Hi Ana, fall sale: URL. Stores: URL. Reply STOP to opt out.")

    await _delivered_minutes_ago(session, campaign_id)
    token = tokens["+14155552672"][0]
    response = await click(client, app, settings, token, IPHONE)
    assert response.status_code == 302
    assert response.headers["location"] == "https://shop.acme.com/fall?utm=sms"
    assert response.headers["cache-control"] == "no-store"
    [stored] = await _clicks(session, campaign_id)
    assert (stored.kind, stored.bot_reason, stored.token) == ("human", None, token)
    assert stored.subscriber_id == world["subscribers"]["+14155552672"]
    assert stored.message_id == messages["+14155552672"] and stored.position == 0
    assert stored.user_agent == IPHONE and stored.ip == "127.0.0.0/24"
    assert abs((stored.clicked_at - utcnow()).total_seconds()) < 300


async def test_previews_never_count_as_people(client, app, admin, marketer, reviewer, db, provider, settings, session):
    world = await build(client, admin, marketer, reviewer, body=BODY)
    campaign_id = world["campaign"]["id"]
    await drain(db, provider, settings)
    token = LINK.findall(provider.sent[0].body)[0]
    # Right after delivery: the phone's own preview fetch, with a browser's user agent.
    await session.execute(update(Message).where(Message.campaign_id == campaign_id).values(delivered_at=utcnow()))
    await session.commit()
    assert (await click(client, app, settings, token, IPHONE)).status_code == 302
    await _delivered_minutes_ago(session, campaign_id)
    for agent in PREVIEWERS.values():
        assert (await click(client, app, settings, token, agent)).status_code == 302
    assert (await click(client, app, settings, token, None)).status_code == 302
    assert (await click(client, app, settings, token, IPHONE, "HEAD")).status_code == 302
    stored = await _clicks(session, campaign_id)
    assert len(stored) == len(PREVIEWERS) + 3
    assert {c.kind for c in stored} == {"bot"}
    reasons = [c.bot_reason for c in stored]
    assert reasons[0] == "near_delivery" and reasons[1] == "imessage"
    assert reasons[-2:] == ["no_user_agent", "head_request"]
    # A person later: one human click; twice from the same person is still one person.
    await click(client, app, settings, token, IPHONE)
    await click(client, app, settings, token, BROWSERS[1])
    humans = await session.scalar(select(func.count(func.distinct(LinkClick.subscriber_id)))
                                  .where(LinkClick.campaign_id == campaign_id, LinkClick.kind == "human"))
    raw = await session.scalar(select(func.count()).select_from(LinkClick).where(LinkClick.campaign_id == campaign_id))
    assert (humans, raw) == (1, len(PREVIEWERS) + 5)


async def test_unknown_and_expired_tokens_get_a_small_404_and_nothing_is_recorded(
        client, app, admin, marketer, reviewer, db, provider, settings, session):
    world = await build(client, admin, marketer, reviewer, body=BODY)
    await drain(db, provider, settings)
    unknown = "ZZZZZZZZZZZZZZZZ"
    response = await click(client, app, settings, unknown, IPHONE)
    assert response.status_code == 404 and "location" not in response.headers
    assert unknown not in response.text and len(response.content) < 200
    token = LINK.findall(provider.sent[0].body)[0]
    await session.execute(update(Link).where(Link.token == token).values(expires_at=utcnow() - timedelta(seconds=1)))
    await session.commit()
    expired = await click(client, app, settings, token, IPHONE)
    assert expired.status_code == 404
    # Not an open redirect: a destination in the request is never followed.
    crafted = await client.get(f"/{token}?to=https://evil.example", headers={"user-agent": IPHONE})
    assert crafted.status_code == 404
    assert await _clicks(session, world["campaign"]["id"]) == []
    # Everything else still reaches the API (a path of another shape, or a POST).
    assert (await client.get("/v1/campaigns", headers=marketer.headers)).status_code == 200
    assert (await client.post(f"/{unknown}")).status_code in (404, 405)


async def test_links_through_the_twilio_double(client, app, admin, marketer, reviewer, db, settings, session,
                                               httpx_mock):
    world = await build(client, admin, marketer, reviewer, body=BODY)
    bodies = {}

    def created(request):
        form = parse_qs(request.content.decode())
        bodies[form["To"][0]] = form["Body"][0]
        return httpx.Response(201, json={"sid": "SM" + form["To"][0][-4:] * 8, "status": "queued",
                                         "to": form["To"][0], "from": form["From"][0], "body": form["Body"][0]})

    httpx_mock.add_callback(created, url=re.compile(r"^https://twilio\.test/.*/Messages\.json$"), is_reusable=True)
    twilio = TwilioProvider(account_sid=settings.account_sid, auth_token="secret", api_base="https://twilio.test",
                            transport="httpx")
    assert await drain(db, twilio, settings) == 3
    assert sorted(bodies) == sorted(world["subscribers"])
    for body in bodies.values():
        assert "https://shop.acme.com" not in body and len(LINK.findall(body)) == 2
    await _delivered_minutes_ago(session, world["campaign"]["id"])
    token = LINK.findall(bodies["+14155552673"])[1]
    response = await click(client, app, settings, token, BROWSERS[1])
    assert (response.status_code, response.headers["location"]) == (302, "https://www.acme.com/stores")
    [stored] = await _clicks(session, world["campaign"]["id"])
    assert (stored.kind, stored.subscriber_id) == ("human", world["subscribers"]["+14155552673"])


async def test_without_a_link_domain_urls_go_out_as_written(client, admin, marketer, reviewer, db, provider, settings,
                                                            session):
    world = await build(client, admin, marketer, reviewer, body=BODY)
    await drain(db, provider, settings.model_copy(update={"link_domain": None}))
    assert all("https://shop.acme.com/fall?utm=sms" in m.body for m in provider.sent)
    assert await _links(session, world["campaign"]["id"]) == []


async def test_review_counts_and_shows_the_rewritten_text(client, admin, marketer, reviewer, settings):
    long_url = "https://shop.acme.com/catalogue/2026/fall?utm_source=sms&utm_medium=text&utm_campaign=fall-2026"
    body = f"Fineline Demo Co: our fall catalogue {long_url} is online, with every new arrival. Reply STOP to opt out."
    world = await build(client, admin, marketer, reviewer, body=body, launch=False)
    checked = (await client.post(f"/v1/campaigns/{world['campaign']['id']}/check", headers=marketer.headers)).json()
    assert len(body) > 160 and checked["segments"] == 1  # 2 segments as written, 1 as sent
    assert checked["estimated_segments_total"] == 3
    assert checked["full_body"] == body  # what was reviewed: the destination itself
    assert checked["tracked_links"] == [long_url]
    assert checked["sent_body"] == body.replace(long_url, f"{DOMAIN}/{'x' * 16}")
    assert all(f"{DOMAIN}/{'x' * 16}" in sample["text"] for sample in checked["samples"])
    assert not any(f["code"] == "segments_over_3" for f in checked["findings"])


async def test_a_slow_or_failing_click_write_never_holds_or_fails_the_redirect(
        client, app, admin, marketer, reviewer, db, provider, settings, session, monkeypatch):
    world = await build(client, admin, marketer, reviewer, body=BODY)
    await drain(db, provider, settings)
    await _delivered_minutes_ago(session, world["campaign"]["id"])
    token = LINK.findall(provider.sent[0].body)[0]
    recorder = recorder_of(app.state, settings)
    recorder.retry_pause = 0
    release = asyncio.Event()
    calls = []

    async def stuck(session, clicks, *, preview_seconds):
        calls.append(len(clicks))
        await release.wait()  # the database never answers while this is blocked
        raise RuntimeError("the database refused the clicks")

    monkeypatch.setattr(links_service, "store_clicks", stuck)
    for _ in range(3):  # would never return if the redirect waited for its click to be written
        response = await asyncio.wait_for(client.get(f"/{token}", headers={"user-agent": IPHONE}), timeout=30)
        assert response.status_code == 302
    assert calls == [1] and recorder.waiting == 2  # one stuck write, the rest waiting behind it
    dropped = recorder.dropped
    release.set()
    await recorder.flush()
    assert recorder.dropped == dropped + 3  # each batch tried three times, then dropped and counted
    assert await _clicks(session, world["campaign"]["id"]) == []
    # Recording works again once the database does.
    monkeypatch.undo()
    assert (await click(client, app, settings, token, IPHONE)).status_code == 302
    assert len(await _clicks(session, world["campaign"]["id"])) == 1


async def test_a_full_buffer_drops_the_click_not_the_redirect(client, app, admin, marketer, reviewer, db, provider,
                                                              settings, monkeypatch):
    await build(client, admin, marketer, reviewer, body=BODY)
    await drain(db, provider, settings)
    token = LINK.findall(provider.sent[0].body)[0]
    recorder = recorder_of(app.state, settings)
    recorder.buffer = 0
    response = await client.get(f"/{token}", headers={"user-agent": IPHONE})
    assert response.status_code == 302 and recorder.dropped == 1 and recorder.waiting == 0


async def test_erasing_a_subscriber_erases_their_links_and_click_details(
        client, app, admin, marketer, reviewer, db, provider, settings, session):
    world = await build(client, admin, marketer, reviewer, body=BODY)
    await drain(db, provider, settings)
    await _delivered_minutes_ago(session, world["campaign"]["id"])
    bodies = {m.to: m.body for m in provider.sent}
    gone, kept = LINK.findall(bodies["+14155552671"])[0], LINK.findall(bodies["+14155552672"])[0]
    await click(client, app, settings, gone, IPHONE)
    await click(client, app, settings, kept, IPHONE)
    erased = await client.delete(f"/v1/subscribers/{world['subscribers']['+14155552671']}", headers=admin.headers)
    assert erased.status_code in (200, 204), erased.text
    # Another API process (nothing cached) answers 404 from now on.
    other = create_app(settings, database=db, provider=provider)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://acme.link") as fresh:
        assert (await fresh.get(f"/{gone}", headers={"user-agent": IPHONE})).status_code == 404
        assert (await fresh.get(f"/{kept}", headers={"user-agent": IPHONE})).status_code == 302
        await recorder_of(other.state, settings).flush()
    session.expire_all()
    link = await session.get(Link, gone)
    assert link.destination == "" and link.expires_at <= utcnow()
    clicks = {c.token: c for c in (await _clicks(session, world["campaign"]["id"]))[:2]}
    assert (clicks[gone].user_agent, clicks[gone].ip, clicks[gone].kind) == (None, None, "human")
    assert (clicks[kept].user_agent, clicks[kept].ip) == (IPHONE, "127.0.0.0/24")
    assert (await session.get(Link, kept)).destination == "https://shop.acme.com/fall?utm=sms"
