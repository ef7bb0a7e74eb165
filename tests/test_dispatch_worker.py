"""The dispatch worker: re-checks before every send, at most once, quiet hours, errors, pause/resume."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs

from sqlalchemy import select, update

from app.dispatch import runner
from app.dispatch.reconcile import reconcile
from app.models import Campaign, Message
from app.providers.twilio import TwilioProvider
from tests.dispatch_world import DAYTIME, build
from tests.twilio_signing import inbound


async def messages(session, campaign_id):
    session.expire_all()
    return (await session.scalars(select(Message).where(Message.campaign_id == campaign_id).order_by(Message.id))).all()


async def test_dispatch_sends_each_message_once_and_completes(client, admin, marketer, reviewer, db, provider,
                                                              settings, session):
    world = await build(client, admin, marketer, reviewer)
    result = await runner.dispatch_once(db, provider, settings, now=DAYTIME)
    assert result.counts["sent"] == 3
    assert sorted(m.to for m in provider.sent) == sorted(world["subscribers"])
    assert all(m.body.startswith("Fineline Demo Co: Hi Ana, fall sale today.") for m in provider.sent)
    rows = await messages(session, world["campaign"]["id"])
    assert {m.state for m in rows} == {"sent"} and all(m.provider_sid for m in rows)
    again = await runner.dispatch_once(db, provider, settings, now=DAYTIME)
    assert again.counts["claimed"] == 0 and len(provider.sent) == 3
    campaign = await session.get(Campaign, world["campaign"]["id"], populate_existing=True)
    assert campaign.state == "completed"


async def test_stop_mid_campaign_skips_that_numbers_queued_message(client, admin, marketer, reviewer, db, provider,
                                                                   settings, session):
    world = await build(client, admin, marketer, reviewer)
    await inbound(client, "SM" + "1" * 32, "+14155552672", "STOP")
    result = await runner.dispatch_once(db, provider, settings, now=DAYTIME)
    assert (result.counts["sent"], result.counts["skipped"]) == (2, 1)
    assert "+14155552672" not in [m.to for m in provider.sent]
    skipped = [m for m in await messages(session, world["campaign"]["id"]) if m.state == "skipped"]
    assert skipped[0].to == "+14155552672" and "opted out" in skipped[0].skip_reason


async def test_suspended_sender_stops_its_campaign(client, admin, marketer, reviewer, db, provider, settings, session):
    world = await build(client, admin, marketer, reviewer)
    await client.post(f"/v1/senders/{world['sender']['id']}/revoke", headers=admin.headers)
    result = await runner.dispatch_once(db, provider, settings, now=DAYTIME)
    assert result.counts["claimed"] == 0 and provider.sent == []
    campaign = await session.get(Campaign, world["campaign"]["id"], populate_existing=True)
    assert campaign.state == "paused"


async def test_paused_and_resumed_campaign_sends_each_message_once(client, admin, marketer, reviewer, ops, db,
                                                                   provider, settings, session):
    world = await build(client, admin, marketer, reviewer)
    cid = world["campaign"]["id"]
    # A batch claimed just before the pause: the pause takes effect within that batch.
    batch = await runner.claim_batch(db, settings, now=DAYTIME)
    await client.post(f"/v1/campaigns/{cid}/pause", headers=ops.headers)
    from app.dispatch.send import process_batch

    await process_batch(db, provider, settings, batch, now=DAYTIME)
    assert provider.sent == []
    assert {m.state for m in await messages(session, cid)} == {"queued"}
    await client.post(f"/v1/campaigns/{cid}/resume", headers=marketer.headers)  # ops pause; the owner resumes
    await runner.dispatch_once(db, provider, settings, now=DAYTIME)
    await client.post(f"/v1/campaigns/{cid}/pause", headers=ops.headers)
    await client.post(f"/v1/campaigns/{cid}/resume", headers=marketer.headers)  # ops pause; the owner resumes
    await runner.dispatch_once(db, provider, settings, now=DAYTIME)
    assert sorted(m.to for m in provider.sent) == sorted(world["subscribers"])


async def test_quiet_hours_defer_and_release_with_a_fake_clock(client, admin, marketer, reviewer, db, provider,
                                                               settings, session):
    world = await build(client, admin, marketer, reviewer, phones=["+14155552671", "+13055552671"])
    # 00:30 UTC = 16:30 in San Francisco, 19:30 in Miami: Florida's window ends at 20:00, still open.
    # 01:30 UTC = 17:30 in San Francisco, 20:30 in Miami: Florida must wait; California may receive.
    night = DAYTIME.replace(day=24, hour=1, minute=30)
    result = await runner.dispatch_once(db, provider, settings, now=night)
    assert (result.counts["sent"], result.counts["deferred"]) == (1, 1)
    assert [m.to for m in provider.sent] == ["+14155552671"]
    waiting = next(m for m in await messages(session, world["campaign"]["id"]) if m.state == "queued")
    assert waiting.not_before.isoformat() == "2026-11-24T13:00:00+00:00"  # 08:00 in Miami
    early = await runner.dispatch_once(db, provider, settings, now=night + timedelta(hours=5))
    assert early.counts["claimed"] == 0
    await runner.dispatch_once(db, provider, settings, now=waiting.not_before)
    assert sorted(m.to for m in provider.sent) == ["+13055552671", "+14155552671"]


def _twilio(settings):
    return TwilioProvider(account_sid=settings.account_sid, auth_token="secret", api_base="https://twilio.test",
                          transport="httpx")


MESSAGES = re.compile(r"^https://twilio\.test/2010-04-01/Accounts/AC1+/Messages\.json$")


def _created(request):
    import httpx

    form = parse_qs(request.content.decode())
    return httpx.Response(201, json={"sid": "SM" + form["To"][0][-4:] * 8, "status": "queued", "to": form["To"][0],
                                     "from": form["From"][0], "body": form["Body"][0]})


async def test_429_is_retried_21610_opts_out_and_21211_marks_invalid(client, admin, marketer, reviewer, db, settings,
                                                                     session, httpx_mock):
    import httpx

    world = await build(client, admin, marketer, reviewer)
    answers = {
        "+14155552671": [httpx.Response(429, json={"code": 20429, "message": "Too Many Requests", "status": 429})],
        "+14155552672": [httpx.Response(400, json={"code": 21610, "message": "Attempt to send to unsubscribed recipient",
                                                   "status": 400})],
        "+14155552673": [httpx.Response(400, json={"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400})],
    }

    def answer(request):
        to = parse_qs(request.content.decode())["To"][0]
        return answers[to].pop(0) if answers[to] else _created(request)

    httpx_mock.add_callback(answer, url=MESSAGES, is_reusable=True)
    twilio = _twilio(settings)
    totals = {"failed": 0, "deferred": 0}
    for _ in range(5):  # a send that misses its rate slot (a cold first call) goes back to the queue
        result = await runner.dispatch_once(db, twilio, settings, now=DAYTIME)
        for key in totals:
            totals[key] += result.counts[key]
        if not result.counts["claimed"]:
            break
    assert (totals["failed"], totals["deferred"]) == (2, 1)
    rows = {m.to: m for m in await messages(session, world["campaign"]["id"])}
    assert (rows["+14155552672"].state, rows["+14155552672"].error_code) == ("failed", 21610)
    assert (rows["+14155552673"].state, rows["+14155552673"].error_code) == ("failed", 21211)
    assert rows["+14155552671"].state == "queued" and rows["+14155552671"].attempts == 1
    detail = (await client.get(f"/v1/subscribers/{world['subscribers']['+14155552672']}", headers=marketer.headers)).json()
    assert detail["suppressed"] and detail["consent_history"][-1]["channel"] == "provider"
    retry_at = rows["+14155552671"].not_before
    second = await runner.dispatch_once(db, twilio, settings, now=retry_at + timedelta(seconds=1))
    assert second.counts["sent"] == 1
    sends = [r for r in httpx_mock.get_requests() if parse_qs(r.content.decode())["To"][0] == "+14155552671"]
    assert len(sends) == 2  # the 429 and the retry; never a third
    callback = parse_qs(sends[-1].content.decode())["StatusCallback"][0]
    assert callback.startswith("https://fineline.test/webhooks/twilio/status?m=")
    await twilio.aclose()


async def test_5xx_is_an_unknown_outcome_reconciled_not_resent(client, admin, marketer, reviewer, db, settings,
                                                               session, httpx_mock, provider):

    world = await build(client, admin, marketer, reviewer, phones=["+14155552671"])
    httpx_mock.add_response(url=MESSAGES, method="POST", status_code=500,
                            json={"code": 20500, "message": "Internal Server Error", "status": 500})
    twilio = _twilio(settings)
    result = await runner.dispatch_once(db, twilio, settings, now=DAYTIME)
    assert result.counts["unknown"] == 1
    [message] = await messages(session, world["campaign"]["id"])
    assert message.state == "unknown"
    # The provider did accept it: the account's message list shows it, so it is recorded, not resent.
    httpx_mock.add_response(url=re.compile(r".*/Messages\.json\?.*To=%2B14155552671.*"), method="GET", json={
        "messages": [{"sid": "SM" + "a" * 32, "to": "+14155552671", "from": "+15005550006", "status": "delivered",
                      "body": provider_body()}], "next_page_uri": None, "page": 0, "page_size": 50, "uri": "/x"})
    counts = await _reconcile_later(db, twilio, settings)
    assert counts == {"found_sent": 1, "requeued": 0, "unreachable": 0}
    [message] = await messages(session, world["campaign"]["id"])
    assert (message.state, message.provider_sid) == ("sent", "SM" + "a" * 32)
    posts = [r for r in httpx_mock.get_requests() if r.method == "POST"]
    assert len(posts) == 1
    await twilio.aclose()


def provider_body() -> str:
    return "Fineline Demo Co: Hi Ana, fall sale today. Reply STOP to opt out."


async def _reconcile_later(db, provider, settings):
    async with db.unit_of_work() as s:
        return await reconcile(s, provider, settings, now=DAYTIME + timedelta(minutes=10))


async def test_worker_that_died_mid_send_is_reconciled_before_any_resend(client, admin, marketer, reviewer, db,
                                                                         provider, settings, session):
    from app.db.base import utcnow

    world = await build(client, admin, marketer, reviewer, phones=["+14155552671", "+14155552672"])
    batch = await runner.claim_batch(db, settings, now=utcnow())  # the sandbox keeps real time
    assert len(batch) == 2
    # The worker sent the first message, then died before recording anything.
    from app.models import Sender

    sender = await session.get(Sender, world["sender"]["id"])
    first = next(c for c in batch if c.to == "+14155552671")
    await provider.send(sender, to=first.to, body=provider_body())
    async with db.unit_of_work() as s:
        early = await reconcile(s, provider, settings, now=utcnow())
    assert early == {"found_sent": 0, "requeued": 0, "unreachable": 0}  # leases still held: not in doubt
    async with db.unit_of_work() as s:
        counts = await reconcile(s, provider, settings, now=utcnow() + timedelta(seconds=settings.lease_seconds + 1))
    assert counts == {"found_sent": 1, "requeued": 1, "unreachable": 0}
    await runner.dispatch_once(db, provider, settings, now=DAYTIME + timedelta(minutes=11))
    assert sorted(m.to for m in provider.sent) == ["+14155552671", "+14155552672"]  # each exactly once
    assert {m.state for m in await messages(session, world["campaign"]["id"])} == {"sent"}


async def test_status_callback_with_our_message_id_settles_a_send_in_doubt(client, admin, marketer, reviewer, db,
                                                                           settings, session):
    from tests.twilio_signing import signed_post

    world = await build(client, admin, marketer, reviewer, phones=["+14155552671"])
    [claimed] = await runner.claim_batch(db, settings, now=DAYTIME)
    params = {"MessageSid": "SM" + "b" * 32, "MessageStatus": "sent"}
    response = await signed_post(client, f"/webhooks/twilio/status?m={claimed.id}", params)
    assert response.status_code == 204
    [message] = await messages(session, world["campaign"]["id"])
    assert (message.state, message.provider_sid) == ("sent", "SM" + "b" * 32)


async def test_scheduled_campaign_launches_on_time(client, admin, marketer, reviewer, db, provider, settings, session):
    world = await build(client, admin, marketer, reviewer, launch=False)
    cid = world["campaign"]["id"]
    await client.patch(f"/v1/campaigns/{cid}", json={"scheduled_at": "2099-01-01T18:00:00Z"}, headers=marketer.headers)
    await client.post(f"/v1/campaigns/{cid}/submit", headers=marketer.headers)
    await client.post(f"/v1/campaigns/{cid}/review", json={"decision": "approve", "comment": "ok"},
                      headers=reviewer.headers)
    assert (await client.post(f"/v1/campaigns/{cid}/launch", headers=marketer.headers)).json()["state"] == "scheduled"
    assert await runner.launch_due(db, settings, now=DAYTIME) == []
    from datetime import UTC, datetime

    assert await runner.launch_due(db, settings, now=datetime(2099, 1, 1, 18, 0, 1, tzinfo=UTC)) == [cid]
    campaign = await session.get(Campaign, cid, populate_existing=True)
    assert campaign.state == "sending"
    assert len(await messages(session, cid)) == 3


async def test_cancelled_campaign_skips_what_was_claimed(client, admin, marketer, reviewer, db, provider, settings,
                                                         session):
    world = await build(client, admin, marketer, reviewer)
    batch = await runner.claim_batch(db, settings, now=DAYTIME)
    await client.post(f"/v1/campaigns/{world['campaign']['id']}/cancel", headers=marketer.headers)
    from app.dispatch.send import process_batch

    await process_batch(db, provider, settings, batch, now=DAYTIME)
    assert provider.sent == []
    rows = await messages(session, world["campaign"]["id"])
    assert {m.state for m in rows} == {"skipped"}
    await session.execute(update(Message).values(state="skipped"))


async def test_a_callback_that_beats_the_batch_record_is_never_undone(client, admin, marketer, reviewer, db, settings,
                                                                      session):
    from app.providers.sandbox import SandboxProvider
    from tests.conftest import OWNED
    from tests.twilio_signing import PUBLIC, signed_post

    class EagerCallbacks(SandboxProvider):
        """Twilio's delivered callback arrives before the worker has recorded the send."""

        async def _create_message(self, sender, *, to, body, status_callback):
            sent = await super()._create_message(sender, to=to, body=body, status_callback=None)
            for status in ("sent", "delivered"):
                response = await signed_post(client, status_callback.removeprefix(PUBLIC),
                                             {"MessageSid": sent.sid, "MessageStatus": status})
                assert response.status_code == 204
            return sent

    eager = EagerCallbacks(OWNED, account_sid=settings.account_sid, auth_token=settings.auth_token, callbacks=False)
    world = await build(client, admin, marketer, reviewer, phones=["+14155552671", "+14155552672"])
    # One send at a time: in tests every session shares one connection (savepoints), so the
    # callbacks must not interleave with each other; in production each has its own connection.
    import asyncio

    # The second send waits for the first one's callbacks; on a loaded machine that can take it past
    # its slot (throttle.LATE), and it is requeued: dispatch again until nothing is left.
    for _ in range(10):
        result = await runner.dispatch_once(db, eager, settings, now=DAYTIME, semaphore=asyncio.Semaphore(1))
        if not result.counts["claimed"]:
            break
    rows = await messages(session, world["campaign"]["id"])
    assert {m.state for m in rows} == {"delivered"} and all(m.provider_sid for m in rows)
    assert len(eager.sent) == 2  # each number sent once, however often it was requeued
    campaign = await session.get(Campaign, world["campaign"]["id"], populate_existing=True)
    assert campaign.delivered_count == 2
