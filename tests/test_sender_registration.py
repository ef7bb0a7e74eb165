"""Verified means allowed to send: an owned number whose carrier registration is not approved is
never `verified` (it is `unregistered`, with the carriers' reason and what to do); approval verifies
it at the next re-check; a withdrawn registration suspends it and pauses its campaigns."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.db.base import utcnow
from app.models import Alert
from app.senders import service as senders
from tests import dispatch_world
from tests.conftest import OWNED


async def _register(client, admin, address=OWNED[0], kind="long_code", **extra):
    created = await client.post("/v1/senders", json={"kind": kind, "address": address, "label": "Main", **extra},
                                headers=admin.headers)
    assert created.status_code == 201, created.text
    return created.json()


async def _recheck(db, provider, hours=2):
    async with db.unit_of_work() as session:
        return await senders.recheck_due(session, provider=provider, now=utcnow() + timedelta(hours=hours),
                                         every=timedelta(hours=1))


async def test_owned_but_unregistered_number_is_never_verified_and_says_what_to_do(client, admin, db, provider):
    provider.set_registration(OWNED[0], "pending", reason="the A2P 10DLC campaign is in review")
    sender = await _register(client, admin)
    verified = await client.post(f"/v1/senders/{sender['id']}/verify", headers=admin.headers)
    assert verified.status_code == 200, verified.text
    body = verified.json()
    assert body["state"] == "unregistered"
    assert body["registration"]["state"] == "pending"
    assert "A2P 10DLC campaign is in review" in body["state_reason"] and "to do:" in body["state_reason"]

    # It cannot send: the provider gate refuses anything but `verified`.
    assert (await client.get(f"/v1/senders/{sender['id']}", headers=admin.headers)).json()["verified_at"] is None

    # Still pending at the next re-check: still unregistered, nothing else moves.
    counts = await _recheck(db, provider)
    assert counts["unregistered"] == 1 and counts["suspended"] == 0

    # The carriers approve it: the hourly re-check verifies it.
    provider.set_registration(OWNED[0], "approved", mps=4, daily_cap=2000)
    counts = await _recheck(db, provider, hours=4)
    fetched = (await client.get(f"/v1/senders/{sender['id']}", headers=admin.headers)).json()
    assert fetched["state"] == "verified"
    assert (fetched["mps"], fetched["daily_cap"]) == (4, 2000)  # the registration's limits are the sender's
    audit = await client.get("/v1/audit", params={"action": "sender.unregistered"}, headers=admin.headers)
    assert [event["target_id"] for event in audit.json()["items"]] == [sender["id"]]


async def test_withdrawn_registration_suspends_the_sender_and_pauses_its_campaigns(
        client, admin, marketer, reviewer, db, provider, session):
    world = await dispatch_world.build(client, admin, marketer, reviewer)
    provider.set_registration(OWNED[0], "suspended", reason="the A2P 10DLC campaign was suspended by the carriers")
    counts = await _recheck(db, provider)
    assert counts["suspended"] == 1
    sender = (await client.get(f"/v1/senders/{world['sender']['id']}", headers=admin.headers)).json()
    assert sender["state"] == "suspended" and "suspended by the carriers" in sender["state_reason"]
    campaign = (await client.get(f"/v1/campaigns/{world['campaign']['id']}", headers=admin.headers)).json()
    assert campaign["state"] == "paused"
    alert = await session.scalar(select(Alert).where(Alert.sender_id == world["sender"]["id"]))
    assert alert.kind == "sender_suspended" and "suspended by the carriers" in alert.message


async def test_an_admin_may_lower_the_registered_rate_but_not_raise_it(client, admin, db, provider):
    provider.set_registration(OWNED[0], "approved", mps=10)
    sender = await _register(client, admin)
    assert (await client.post(f"/v1/senders/{sender['id']}/verify", headers=admin.headers)).json()["mps"] == 10
    above = await client.patch(f"/v1/senders/{sender['id']}", json={"mps": 50}, headers=admin.headers)
    assert above.status_code == 422 and above.json()["error"]["code"] == "above_registered_rate"
    lower = await client.patch(f"/v1/senders/{sender['id']}", json={"mps": 3}, headers=admin.headers)
    assert lower.status_code == 200 and lower.json()["mps"] == 3
    await _recheck(db, provider)  # the re-check keeps the admin's lower rate
    assert (await client.get(f"/v1/senders/{sender['id']}", headers=admin.headers)).json()["mps"] == 3


async def test_a_messaging_service_with_an_unverified_toll_free_number_is_not_cleared(client, admin, provider):
    provider.set_registration(OWNED[1], "pending", reason="toll-free verification in review")
    sender = await _register(client, admin, address=OWNED[3], kind="messaging_service")
    body = (await client.post(f"/v1/senders/{sender['id']}/verify", headers=admin.headers)).json()
    assert body["state"] == "unregistered" and OWNED[1] in body["state_reason"]


async def test_numbers_outside_the_us_are_judged_as_before(client, admin, provider):
    provider.owned.add("+16135550123")
    sender = await _register(client, admin, address="+16135550123")
    body = (await client.post(f"/v1/senders/{sender['id']}/verify", headers=admin.headers)).json()
    assert body["state"] == "verified" and "outside the US" in body["registration"]["reason"]


# -- send-time carrier errors: the first one suspends the sender, instead of a wall of failures -----

async def test_30034_on_a_status_callback_suspends_the_sender_and_pauses_the_campaign(
        client, admin, marketer, reviewer, db, provider, settings, session):
    from sqlalchemy import update

    from app.models import Message
    from tests.twilio_signing import apply_callbacks, signed_post

    world = await dispatch_world.build(client, admin, marketer, reviewer)
    # Two messages went out (as the worker records them); the third is still queued.
    rows = (await session.scalars(select(Message).order_by(Message.id))).all()
    for index, row in enumerate(rows[:2]):
        await session.execute(update(Message).where(Message.id == row.id)
                              .values(state="sent", provider_sid=f"SM{index}" + "f" * 31))
    await session.commit()
    first = (await session.scalars(select(Message).where(Message.state == "sent").order_by(Message.id))).first()
    params = {"MessageSid": first.provider_sid, "MessageStatus": "undelivered", "ErrorCode": "30034",
              "AccountSid": "AC" + "1" * 32}
    assert (await signed_post(client, "/webhooks/twilio/status", params)).status_code in (200, 204)
    await apply_callbacks(db, settings)

    sender = (await client.get(f"/v1/senders/{world['sender']['id']}", headers=admin.headers)).json()
    assert sender["state"] == "suspended" and "carrier error 30034" in sender["state_reason"]
    campaign = (await client.get(f"/v1/campaigns/{world['campaign']['id']}", headers=admin.headers)).json()
    assert campaign["state"] == "paused"
    alerts = (await session.scalars(select(Alert).where(Alert.kind == "sender_suspended"))).all()
    assert len(alerts) == 1 and "30034" in alerts[0].message

    # A second carrier error for the same sender changes nothing more (one alert, one suspension).
    params["MessageSid"] = "SM1" + "f" * 31
    assert (await signed_post(client, "/webhooks/twilio/status", params)).status_code in (200, 204)
    await apply_callbacks(db, settings)
    assert len((await session.scalars(select(Alert).where(Alert.kind == "sender_suspended"))).all()) == 1


async def test_carrier_refusal_at_send_time_suspends_the_sender_after_one_message(
        client, admin, marketer, reviewer, db, settings, session, httpx_mock):
    import re

    from app.dispatch import runner
    from app.models import Message
    from app.providers.twilio import TwilioProvider

    world = await dispatch_world.build(client, admin, marketer, reviewer, mps=1)
    httpx_mock.add_response(
        url=re.compile(r"^https://twilio\.test/2010-04-01/Accounts/AC1+/Messages\.json$"), status_code=400,
        json={"code": 21729, "message": "The sender is not registered to send to this country", "status": 400},
        is_reusable=True)
    twilio = TwilioProvider(account_sid=settings.account_sid, auth_token="test-auth-token",
                            api_base="https://twilio.test", transport="httpx")
    for _ in range(5):
        result = await runner.dispatch_once(db, twilio, settings, now=dispatch_world.DAYTIME)
        if not result.counts["claimed"]:
            break
    await twilio.aclose()
    sender = (await client.get(f"/v1/senders/{world['sender']['id']}", headers=admin.headers)).json()
    assert sender["state"] == "suspended" and "21729" in sender["state_reason"]
    campaign = (await client.get(f"/v1/campaigns/{world['campaign']['id']}", headers=admin.headers)).json()
    assert campaign["state"] == "paused"
    rows = (await session.scalars(select(Message).where(Message.campaign_id == world["campaign"]["id"]))).all()
    # At MPS 1 the batch's first send failed; the rest were released when the campaign paused, not failed.
    assert sum(row.state == "failed" for row in rows) == 1
    assert sum(row.state == "queued" for row in rows) == len(rows) - 1
    assert len([r for r in httpx_mock.get_requests() if r.method == "POST"]) == 1


async def test_sandbox_reports_the_carriers_refusal_like_twilio(settings):
    """A sender whose registration was withdrawn at the sandbox: the API accepts the message and the
    status callback says undelivered, 30034 — the path the webhook test above takes."""
    import asyncio

    from app.models import Sender
    from app.providers.sandbox import SandboxProvider

    posted = []
    provider = SandboxProvider(OWNED, account_sid=settings.account_sid, auth_token="t", callback_delay=0.0)

    async def capture(url, params):
        posted.append(params)

    provider._post_signed = capture
    provider.set_registration(OWNED[0], "suspended")
    record = Sender(id="snd_x", kind="long_code", address=OWNED[0], label="x", mps=1, state="verified", pool=[])
    await provider.send(record, to="+14155552671", body="hi", status_callback="https://fineline.test/cb")
    for _ in range(100):
        if len(posted) == 2:
            break
        await asyncio.sleep(0.01)
    await provider.aclose()
    assert [(p["MessageStatus"], p.get("ErrorCode")) for p in posted] == [("sent", None), ("undelivered", "30034")]


def test_the_carrier_day_turns_at_midnight_pacific():
    from datetime import UTC, datetime

    from app.dispatch.throttle import carrier_day

    day, next_start = carrier_day(datetime(2026, 11, 23, 7, 59, tzinfo=UTC))  # 23:59 PST on the 22nd
    assert (day, next_start) == ("2026-11-22", datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    day, next_start = carrier_day(datetime(2026, 7, 1, 7, 0, tzinfo=UTC))  # 00:00 PDT on July 1st
    assert (day, next_start) == ("2026-07-01", datetime(2026, 7, 2, 7, 0, tzinfo=UTC))


async def test_a_daily_cap_sends_what_the_day_allows_and_the_rest_the_next_day(
        client, admin, marketer, reviewer, db, provider, settings, session):
    from app.dispatch import runner
    from app.dispatch.throttle import carrier_day
    from app.models import Message

    provider.set_registration(OWNED[0], "approved", daily_cap=2)
    world = await dispatch_world.build(client, admin, marketer, reviewer)
    assert world["sender"]["id"]
    now = dispatch_world.DAYTIME
    totals = {"sent": 0, "deferred": 0}
    for _ in range(5):
        result = await runner.dispatch_once(db, provider, settings, now=now)
        for key in totals:
            totals[key] += result.counts[key]
        if not result.counts["claimed"]:
            break
    assert totals == {"sent": 2, "deferred": 1}
    session.expire_all()
    waiting = (await session.scalars(select(Message).where(Message.state == "queued"))).one()
    next_day = carrier_day(now)[1]
    assert waiting.not_before == next_day

    # The next carrier day (10:00 in New York, 07:00 in San Francisco... the quiet hours still apply
    # on top, so dispatch at a daytime instant of that day).
    later = next_day.replace(hour=18)
    result = await runner.dispatch_once(db, provider, settings, now=later)
    assert result.counts["sent"] == 1
    assert len(provider.sent) == 3


# -- the Twilio double answers the same questions (benchmarks and crash tests run against it) ------

@pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")
async def test_the_twilio_double_knows_registrations_and_refuses_like_the_carriers():
    from aiohttp import web

    from app.providers.twilio import TwilioProvider
    from scripts import fake_twilio

    owned = ["+15005550006", "+14155550123", "+14155550124", "+18005550100"]
    config = fake_twilio.FakeTwilioConfig(
        owned=owned, registration={"+14155550123": "pending", "+14155550124": "missing", "+18005550100": "rejected"},
        a2p_mps=40, daily_cap=2000)
    runner = web.AppRunner(fake_twilio.build_app(config), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    twilio = TwilioProvider(account_sid="AC" + "1" * 32, auth_token="t", api_base=base, transport="httpx")
    try:
        verdicts = {number: (await twilio.check_sender("toll_free" if number.startswith("+1800") else "long_code",
                                                       number)).registration for number in owned}
    finally:
        await twilio.aclose()
        await runner.cleanup()
    assert verdicts["+15005550006"].approved
    assert (verdicts["+15005550006"].mps, verdicts["+15005550006"].daily_cap) == (40, 2000)
    assert verdicts["+14155550123"].state == "pending"
    assert verdicts["+14155550124"].state == "missing"
    assert verdicts["+18005550100"].state == "rejected" and "Opt-in flow not shown" in verdicts["+18005550100"].reason
    assert fake_twilio.carrier_refusal(config, "+14155550123") == "30034"
    assert fake_twilio.carrier_refusal(config, "+18005550100") == "30032"
    assert fake_twilio.carrier_refusal(config, "+15005550006") is None
