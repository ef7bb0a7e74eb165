"""The unsubscribe-spike guard end to end: attribution, firing within a second, pause, dedupe,
alerts API and stream, the ops webhook's retries, and canary releases."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import httpx
from sqlalchemy import func, select, update

from app.alerts import notifier
from app.dispatch import canary, runner
from app.models import Alert, Campaign, Message
from tests.dispatch_world import DAYTIME, build
from tests.twilio_signing import apply_callbacks, inbound, signed_post

PHONES = [f"+1415555{2600 + i:04d}" for i in range(40)]


async def _sent_and_delivered(client, db, provider, settings, session, world, *, leave: int = 10):
    """Send all but ``leave`` messages (the campaign is still sending) and deliver them."""
    queued = await session.scalar(select(func.count()).select_from(Message).where(
        Message.campaign_id == world["campaign"]["id"], Message.state == "queued", Message.held.is_(False)))
    target = max(1, queued - leave)
    for _ in range(10):  # a send that misses its rate slot on a loaded machine is requeued: claim it again
        sent = await session.scalar(select(func.count()).select_from(Message).where(
            Message.campaign_id == world["campaign"]["id"], Message.provider_sid.is_not(None)))
        if sent >= target:
            break
        partial = settings.model_copy(update={"batch_size": target - sent})
        await runner.dispatch_once(db, provider, partial, now=DAYTIME)
        session.expire_all()
    session.expire_all()
    rows = (await session.scalars(select(Message).where(Message.campaign_id == world["campaign"]["id"]))).all()
    for message in rows:
        if message.provider_sid:
            response = await signed_post(client, "/webhooks/twilio/status",
                                         {"MessageSid": message.provider_sid, "MessageStatus": "delivered"})
            assert response.status_code == 204
    await apply_callbacks(db, settings)
    return rows


async def test_stop_wave_fires_once_and_pauses_within_a_second(client, admin, marketer, reviewer, ops, db, provider,
                                                               settings, session):
    world = await build(client, admin, marketer, reviewer, phones=PHONES)
    rows = await _sent_and_delivered(client, db, provider, settings, session, world)
    assert sum(1 for m in rows if m.state == "sent") == 30
    cid = world["campaign"]["id"]
    fired_after = None
    for index, phone in enumerate(PHONES[:8]):
        started = time.perf_counter()
        reply = await inbound(client, f"SM{index:032d}", phone, "STOP")
        assert reply.status_code == 200
        campaign = await session.get(Campaign, cid, populate_existing=True)
        if campaign.state == "paused" and fired_after is None:
            fired_after = (index + 1, time.perf_counter() - started)
    assert fired_after is not None, "the guard never fired"
    count, seconds = fired_after
    assert count == 5  # the minimum count: 5 of 40 delivered is far above a 0.5% baseline
    assert seconds < 1.0  # from the deciding STOP's arrival to the paused campaign
    alerts = (await client.get("/v1/alerts", params={"state": "open"}, headers=ops.headers)).json()["items"]
    assert len(alerts) == 1  # dedupe: the later STOPs found the open alert
    alert = alerts[0]
    assert (alert["kind"], alert["campaign_id"], alert["action"]) == ("unsubscribe_spike", cid, "paused")
    assert alert["metrics"]["opt_outs"] == 5 and alert["metrics"]["delivered"] == 30
    assert alert["metrics"]["baseline_rate"] == 0.005 and alert["metrics"]["rate"] == round(5 / 30, 6)
    counts = (await client.get(f"/v1/campaigns/{cid}", headers=ops.headers)).json()["counts"]
    assert counts["opt_outs"] == 8 and counts["opt_out_rate"] == 8 / 30
    assert counts["queued"] == 10  # the rest of the audience was spared


async def test_alert_only_policy_does_not_pause(client, admin, marketer, reviewer, ops, db, provider, settings, session):
    world = await build(client, admin, marketer, reviewer, phones=PHONES[:20], launch=False)
    cid = world["campaign"]["id"]
    await client.patch(f"/v1/campaigns/{cid}", json={"spike_policy": "alert_only"}, headers=marketer.headers)
    await client.post(f"/v1/campaigns/{cid}/submit", headers=marketer.headers)
    await client.post(f"/v1/campaigns/{cid}/review", json={"decision": "approve", "comment": "ok"},
                      headers=reviewer.headers)
    await client.post(f"/v1/campaigns/{cid}/launch", headers=marketer.headers)
    await _sent_and_delivered(client, db, provider, settings, session, world)
    for index, phone in enumerate(PHONES[:6]):
        await inbound(client, f"SM{index:032d}", phone, "stop please")
    campaign = await session.get(Campaign, cid, populate_existing=True)
    assert campaign.state == "sending"
    [alert] = (await client.get("/v1/alerts", headers=ops.headers)).json()["items"]
    assert alert["action"] == "alert_only"


async def test_guard_paused_campaign_resumes_only_by_ops_with_a_comment(client, admin, marketer, reviewer, ops, db,
                                                                        provider, settings, session):
    world = await build(client, admin, marketer, reviewer, phones=PHONES[:20])
    await _sent_and_delivered(client, db, provider, settings, session, world)
    for index, phone in enumerate(PHONES[:5]):
        await inbound(client, f"SM{index:032d}", phone, "STOP")
    cid = world["campaign"]["id"]
    by_marketer = await client.post(f"/v1/campaigns/{cid}/resume", json={"comment": "fine"}, headers=marketer.headers)
    assert by_marketer.status_code == 403
    no_comment = await client.post(f"/v1/campaigns/{cid}/resume", headers=ops.headers)
    assert no_comment.status_code == 422
    resumed = await client.post(f"/v1/campaigns/{cid}/resume", json={"comment": "checked: a list mix-up, fixed"},
                                headers=ops.headers)
    assert resumed.status_code == 200 and resumed.json()["state_reason"] == "checked: a list mix-up, fixed"
    [alert] = (await client.get("/v1/alerts", headers=ops.headers)).json()["items"]
    acked = await client.post(f"/v1/alerts/{alert['id']}/acknowledge", json={"comment": "looking"}, headers=ops.headers)
    assert acked.json()["state"] == "acknowledged"
    resolved = await client.post(f"/v1/alerts/{alert['id']}/resolve", headers=ops.headers)
    assert resolved.json()["state"] == "resolved"
    assert (await client.post(f"/v1/alerts/{alert['id']}/resolve", headers=ops.headers)).status_code == 409
    assert (await client.get("/v1/alerts", headers=marketer.headers)).status_code == 403


async def test_few_opt_outs_on_a_big_send_do_not_fire(client, admin, marketer, reviewer, db, provider, settings,
                                                      session):
    world = await build(client, admin, marketer, reviewer, phones=PHONES)
    await _sent_and_delivered(client, db, provider, settings, session, world)
    await session.execute(update(Campaign).where(Campaign.id == world["campaign"]["id"]).values(delivered_count=5000))
    await session.commit()
    for index, phone in enumerate(PHONES[:6]):
        await inbound(client, f"SM{index:032d}", phone, "STOP")
    assert await session.scalar(select(func.count()).select_from(Alert)) == 0  # 6 of 5,000 is normal noise


async def test_ops_webhook_is_retried_until_it_answers(client, admin, marketer, reviewer, db, provider, settings,
                                                       session, httpx_mock):
    world = await build(client, admin, marketer, reviewer, phones=PHONES[:20])
    await _sent_and_delivered(client, db, provider, settings, session, world)
    for index, phone in enumerate(PHONES[:5]):
        await inbound(client, f"SM{index:032d}", phone, "STOP")
    hook = settings.model_copy(update={"ops_webhook_url": "https://hooks.example/ops"})
    httpx_mock.add_response(url="https://hooks.example/ops", status_code=500)
    httpx_mock.add_exception(httpx.ConnectError("refused"), url="https://hooks.example/ops")
    httpx_mock.add_response(url="https://hooks.example/ops", status_code=200)
    async with httpx.AsyncClient() as http:
        outcomes = []
        for _ in range(3):
            outcomes.append(await notifier.notify_pending(db, hook, http))
            await session.execute(update(Alert).values(notify_next_at=DAYTIME - timedelta(days=10)))
            await session.commit()
    assert [o["retry"] for o in outcomes] == [1, 1, 0] and outcomes[-1]["sent"] == 1
    body = json.loads(httpx_mock.get_requests()[-1].content)
    assert body["text"].startswith(":rotating_light: Fineline alert (unsubscribe_spike)")
    assert body["alert"]["campaign_id"] == world["campaign"]["id"]
    alert = await session.scalar(select(Alert))
    await session.refresh(alert)
    assert (alert.notify_state, alert.notify_attempts) == ("sent", 3)


async def test_alert_stream_sends_open_alerts_then_changes(client, admin, marketer, reviewer, ops, db, provider,
                                                           settings, session):
    world = await build(client, admin, marketer, reviewer, phones=PHONES[:20])
    await _sent_and_delivered(client, db, provider, settings, session, world)
    for index, phone in enumerate(PHONES[:5]):
        await inbound(client, f"SM{index:032d}", phone, "STOP")
    events = []
    # (httpx's ASGI transport hands over a response only when it ends: ask the stream to close.)
    async with client.stream("GET", "/v1/alerts/stream", params={"poll": 0.1, "duration": 0.5},
                             headers=ops.headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                break
    assert events[0]["kind"] == "unsubscribe_spike" and events[0]["metrics"]["opt_outs"] == 5


async def test_canary_releases_a_clean_campaign(client, admin, marketer, reviewer, db, provider, settings, session):
    world = await build(client, admin, marketer, reviewer, phones=PHONES, launch=False)
    cid = await _launch_with_canary(client, marketer, reviewer, world)
    sent = await _drain(db, provider, settings)
    assert 0 < sent < 40  # only the slice went out
    held = await session.scalar(select(func.count()).select_from(Message).where(Message.campaign_id == cid,
                                                                               Message.held))
    assert held == 40 - sent
    from app.db.base import utcnow

    soon = utcnow() + timedelta(minutes=1)  # messages carry the real send time
    assert (await canary.judge_canaries(db, settings, now=soon))["waiting"] == [cid]
    later = (await session.scalar(select(func.max(Message.sent_at)))) + timedelta(minutes=31)
    assert (await canary.judge_canaries(db, settings, now=later))["released"] == [cid]
    await _drain(db, provider, settings)
    assert len(provider.sent) == 40


async def _drain(db, provider, settings) -> int:
    """Dispatch until nothing is claimed: on a loaded machine a send that misses its rate slot goes
    back to the queue (never out in a burst) and leaves with a later claim."""
    sent = 0
    for _ in range(10):
        result = await runner.dispatch_once(db, provider, settings, now=DAYTIME)
        sent += result.counts["sent"]
        if not result.counts["claimed"]:
            break
    return sent


async def test_canary_holds_a_bad_campaign(client, admin, marketer, reviewer, db, provider, settings, session):
    world = await build(client, admin, marketer, reviewer, phones=PHONES, launch=False)
    cid = await _launch_with_canary(client, marketer, reviewer, world, policy="alert_only")
    await _sent_and_delivered(client, db, provider, settings, session, {"campaign": {"id": cid}}, leave=0)
    slice_phones = [m.to for m in provider.sent]
    for index, phone in enumerate(slice_phones[:5]):
        await inbound(client, f"SM{index:032d}", phone, "STOP")
    later = (await session.scalar(select(func.max(Message.sent_at)))) + timedelta(minutes=31)
    verdicts = await canary.judge_canaries(db, settings, now=later)
    assert verdicts["held"] == [cid]
    campaign = await session.get(Campaign, cid, populate_existing=True)
    assert campaign.state == "paused" and campaign.paused_by_guard
    shown = (await client.get(f"/v1/campaigns/{cid}", headers=marketer.headers)).json()
    assert shown["paused_by_guard"] is True  # the ops page offers ops the Resume only then
    kinds = set((await session.scalars(select(Alert.kind))).all())
    assert "canary_held" in kinds
    sent_before = len(provider.sent)
    await runner.dispatch_once(db, provider, settings, now=DAYTIME)
    assert len(provider.sent) == sent_before  # the rest of the audience was spared


async def _launch_with_canary(client, marketer, reviewer, world, policy="pause"):
    cid = world["campaign"]["id"]
    await client.patch(f"/v1/campaigns/{cid}", json={"rollout": {"first_slice_percent": 25, "observe_minutes": 30},
                                                     "spike_policy": policy}, headers=marketer.headers)
    await client.post(f"/v1/campaigns/{cid}/submit", headers=marketer.headers)
    await client.post(f"/v1/campaigns/{cid}/review", json={"decision": "approve", "comment": "ok"},
                      headers=reviewer.headers)
    launched = await client.post(f"/v1/campaigns/{cid}/launch", headers=marketer.headers)
    assert launched.json()["state"] == "sending", launched.text
    return cid
