"""Verified means allowed to send: an owned number whose carrier registration is not approved is
never `verified` (it is `unregistered`, with the carriers' reason and what to do); approval verifies
it at the next re-check; a withdrawn registration suspends it and pauses its campaigns."""

from __future__ import annotations

from datetime import timedelta

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
    assert body["registration"]["status"] == "pending"
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
    assert campaign["status"] == "paused"
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
