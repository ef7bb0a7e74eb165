"""Dispatch foundations: the audience materialised at launch, and status callbacks (invariants 2, 5, 8)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from app.campaigns.audience import materialise
from app.dispatch import states
from app.models import Campaign, Message, StatusCallback
from tests.conftest import OWNED
from tests.twilio_signing import apply_callbacks, inbound, signed_post

CONSENT = {"source": "web_form", "evidence": "https://acme.example/join", "consented_at": "2026-10-01T12:00:00Z"}
BODY = "Fineline Demo Co: fall sale, 20% off today. Reply STOP to opt out."


async def add(client, marketer, list_id, phone):
    response = await client.post(f"/v1/lists/{list_id}/subscribers", json={"phone": phone, "consent": CONSENT},
                                 headers=marketer.headers)
    assert response.status_code == 201, response.text
    return response.json()["subscriber"]["id"]


@pytest.fixture
async def world(client, admin, marketer, reviewer):
    sender = (await client.post("/v1/senders", json={"kind": "long_code", "address": OWNED[0], "label": "Main"},
                                headers=admin.headers)).json()
    await client.post(f"/v1/senders/{sender['id']}/verify", headers=admin.headers)
    a = (await client.post("/v1/lists", json={"name": "A", "opt_in": "single", "sender_id": sender["id"]},
                           headers=marketer.headers)).json()
    b = (await client.post("/v1/lists", json={"name": "B", "opt_in": "double", "sender_id": sender["id"]},
                           headers=marketer.headers)).json()
    subs = {
        "both": await add(client, marketer, a["id"], "+14155552671"),
        "stopped": await add(client, marketer, a["id"], "+14155552672"),
        "erased": await add(client, marketer, a["id"], "+14155552673"),
        "pending": await add(client, marketer, b["id"], "+14155552674"),
        "single": await add(client, marketer, a["id"], "+14155552675"),
    }
    await add(client, marketer, b["id"], "+14155552671")
    await inbound(client, "SM" + "1" * 32, "+14155552671", "YES")  # confirms "both" on list B
    await inbound(client, "SM" + "2" * 32, "+14155552672", "STOP")
    await client.delete(f"/v1/subscribers/{subs['erased']}", headers=admin.headers)
    campaign = (await client.post("/v1/campaigns", json={"name": "Fall", "sender_id": sender["id"],
                                                         "list_ids": [a["id"], b["id"]], "body": BODY},
                                  headers=marketer.headers)).json()
    await client.post(f"/v1/campaigns/{campaign['id']}/submit", headers=marketer.headers)
    await client.post(f"/v1/campaigns/{campaign['id']}/review", json={"decision": "approve", "comment": "ok"},
                      headers=reviewer.headers)
    return {"campaign": campaign, "subs": subs, "lists": [a["id"], b["id"]]}


async def test_launch_materialises_only_sendable_subscribers_once(client, marketer, world, session):
    launched = await client.post(f"/v1/campaigns/{world['campaign']['id']}/launch", headers=marketer.headers)
    assert launched.status_code == 200, launched.text
    assert launched.json()["state"] == "sending"
    rows = (await session.scalars(select(Message).where(Message.campaign_id == world["campaign"]["id"]))).all()
    assert sorted(m.subscriber_id for m in rows) == sorted([world["subs"]["both"], world["subs"]["single"]])
    assert all(m.state == "queued" and m.consent_event_id for m in rows)
    assert launched.json()["counts"]["audience"] == 2 and launched.json()["counts"]["queued"] == 2

    campaign = await session.get(Campaign, world["campaign"]["id"])
    assert await materialise(session, campaign, world["lists"]) == 0  # a second run inserts nothing
    assert await session.scalar(select(func.count()).select_from(Message)) == 2


async def _sent_message(client, marketer, world, session) -> Message:
    await client.post(f"/v1/campaigns/{world['campaign']['id']}/launch", headers=marketer.headers)
    message = (await session.scalars(select(Message).order_by(Message.id))).first()
    await session.execute(update(Message).where(Message.id == message.id)
                          .values(state="sent", provider_sid="SM" + "f" * 32))
    await session.commit()
    return message


def status(client, sid, value, **extra):
    params = {"MessageSid": sid, "MessageStatus": value, "AccountSid": "AC" + "1" * 32, **extra}
    return signed_post(client, "/webhooks/twilio/status", params)


async def test_status_callbacks_are_idempotent_and_monotonic(client, marketer, world, db, settings, session):
    message = await _sent_message(client, marketer, world, session)
    sid = "SM" + "f" * 32
    assert (await status(client, sid, "delivered")).status_code == 204
    assert await apply_callbacks(db, settings) == 1
    assert (await status(client, sid, "sent")).status_code == 204  # late and out of order
    assert (await status(client, sid, "delivered")).status_code == 204  # a retry: not stored again
    assert await apply_callbacks(db, settings) == 1  # the late 'sent' is applied and moves nothing back
    await session.refresh(message)
    assert message.state == "delivered" and message.delivered_at is not None
    stored = (await session.scalars(select(StatusCallback.status).where(StatusCallback.message_sid == sid))).all()
    assert sorted(stored) == ["delivered", "sent"]
    counts = (await client.get(f"/v1/campaigns/{world['campaign']['id']}", headers=marketer.headers)).json()["counts"]
    assert counts["delivered"] == 1 and counts["queued"] == 1


async def test_failed_callback_records_the_error_code(client, marketer, world, db, settings, session):
    message = await _sent_message(client, marketer, world, session)
    await status(client, "SM" + "f" * 32, "undelivered", ErrorCode="30007")
    await apply_callbacks(db, settings)
    await session.refresh(message)
    assert (message.state, message.error_code) == ("undelivered", 30007)


async def test_unknown_sid_is_stored_and_ignored(client, db, settings, session):
    assert (await status(client, "SM" + "e" * 32, "delivered")).status_code == 204
    assert await apply_callbacks(db, settings) == 1  # taken off the queue, nothing to move
    row = await session.scalar(select(StatusCallback).where(StatusCallback.message_sid == "SM" + "e" * 32))
    assert row is not None and row.known is False


async def test_forged_status_callback_is_403_and_stores_nothing(client, session):
    params = {"MessageSid": "SM" + "d" * 32, "MessageStatus": "delivered"}
    response = await signed_post(client, "/webhooks/twilio/status", params, token="not-our-token")
    assert response.status_code == 403
    assert await session.scalar(select(func.count()).select_from(StatusCallback)) == 0


@pytest.mark.parametrize(
    ("current", "reported", "expected"),
    [
        ("queued", "sent", "sent"), ("sent", "delivered", "delivered"), ("delivered", "sent", "delivered"),
        ("delivered", "undelivered", "delivered"), ("sent", "queued", "sent"), ("sending", "failed", "failed"),
        ("skipped", "delivered", "skipped"), ("sent", "bogus", "sent"), ("queued", "read", "delivered"),
    ],
)
def test_advance_is_monotonic(current, reported, expected):
    assert states.advance(current, reported) == expected


async def test_queue_depth_gauge_counts_the_claimable_messages(client, marketer, world, db, session):
    from app.dispatch.runner import queue_depth
    from app.ops.metrics import QUEUE_DEPTH

    await client.post(f"/v1/campaigns/{world['campaign']['id']}/launch", headers=marketer.headers)
    assert await queue_depth(db) == 2 and QUEUE_DEPTH._value.get() == 2
    first = (await session.scalars(select(Message).order_by(Message.id))).first()
    await session.execute(update(Message).where(Message.id == first.id).values(held=True))  # a canary's rest
    await session.commit()
    assert await queue_depth(db) == 1
