"""Verified company senders (docs/design.md, invariant 1) through the API, on the sandbox account."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.db.base import utcnow
from app.models import AuditEvent, Sender
from app.senders import service as senders
from tests.conftest import OWNED


async def register(client, actor, **payload):
    body = {"kind": "long_code", "address": OWNED[0], "label": "Main line", **payload}
    return await client.post("/v1/senders", json=body, headers=actor.headers)


async def registered_and_verified(client, admin, **payload) -> dict:
    created = await register(client, admin, **payload)
    assert created.status_code == 201, created.text
    verified = await client.post(f"/v1/senders/{created.json()['id']}/verify", headers=admin.headers)
    assert verified.status_code == 200, verified.text
    return verified.json()


async def test_company_number_registers_pending_then_verifies(client, admin, session):
    created = await register(client, admin, address="(500) 555-0006")
    assert created.status_code == 201
    sender = created.json()
    assert (sender["state"], sender["address"], sender["mps"]) == ("pending", "+15005550006", 1)

    verified = await client.post(f"/v1/senders/{sender['id']}/verify", headers=admin.headers)
    assert verified.status_code == 200
    assert verified.json()["state"] == "verified"
    assert verified.json()["verified_at"] and verified.json()["last_checked_at"]

    actions = (await session.scalars(select(AuditEvent.action).where(AuditEvent.target_id == sender["id"]))).all()
    assert sorted(actions) == ["sender.registered", "sender.verified"]


async def test_personal_mobile_is_refused_with_the_reason(client, admin):
    created = await register(client, admin, address="+14155552671", label="Dana's cell")
    response = await client.post(f"/v1/senders/{created.json()['id']}/verify", headers=admin.headers)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "not_a_company_sender"
    assert "+14155552671 is not a verified company sender" in error["message"]
    assert "not among the phone numbers of the company's account" in error["message"]
    again = await client.get(f"/v1/senders/{created.json()['id']}", headers=admin.headers)
    assert again.json()["state"] == "pending"


@pytest.mark.parametrize(
    ("kind", "address", "why"),
    [
        ("long_code", "call me maybe", "not a phone number"),
        ("long_code", "+1 555", "not a valid phone number"),
        ("long_code", "+18005550100", "toll-free number; register it as toll_free"),
        ("toll_free", "+15005550006", "not a toll-free number"),
        ("short_code", "12", "5 or 6 digits"),
        ("messaging_service", "MGnope", "messaging service SID"),
        ("alphanumeric", "WAY-TOO-LONG-NAME", "1 to 11 letters"),
        ("alphanumeric", "123456", "at least one letter"),
    ],
)
async def test_malformed_address_is_422_saying_why(client, admin, kind, address, why):
    response = await register(client, admin, kind=kind, address=address)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["message"].startswith("not a verified company sender")
    assert why in error["message"]
    assert error["details"][0]["field"] == "address"


async def test_unknown_kind_is_422(client, admin):
    response = await register(client, admin, kind="personal")
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "kind"


async def test_mps_defaults_by_kind_and_admin_can_change_it(client, admin):
    toll_free = await registered_and_verified(client, admin, kind="toll_free", address=OWNED[1])
    short = await registered_and_verified(client, admin, kind="short_code", address=OWNED[2])
    service = await registered_and_verified(client, admin, kind="messaging_service", address=OWNED[3])
    assert (toll_free["mps"], short["mps"]) == (3, 100)
    assert service["pool"] == ["+15005550006", "+18005550100"]
    assert service["mps"] == 1 + 3  # the sum of its pool
    patched = await client.patch(f"/v1/senders/{short['id']}", json={"mps": 30}, headers=admin.headers)
    assert patched.json()["mps"] == 30


async def test_duplicate_registration_is_409(client, admin):
    assert (await register(client, admin)).status_code == 201
    again = await register(client, admin, address="+1 500 555 0006")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "sender_exists"


async def test_alphanumeric_needs_a_second_admin(client, admin, admin2):
    created = await register(client, admin, kind="alphanumeric", address="ACME")
    sender_id = created.json()["id"]
    own = await client.post(f"/v1/senders/{sender_id}/verify", headers=admin.headers)
    assert own.status_code == 403
    assert "second admin" in own.json()["error"]["message"]
    other = await client.post(f"/v1/senders/{sender_id}/confirm", headers=admin2.headers)
    assert other.status_code == 200
    assert other.json()["state"] == "verified"
    assert other.json()["confirmed_by_id"] == admin2.id


async def test_only_admins_register_verify_revoke(client, marketer, admin):
    assert (await register(client, marketer)).status_code == 403
    sender = (await register(client, admin)).json()
    for action in ("verify", "revoke"):
        assert (await client.post(f"/v1/senders/{sender['id']}/{action}", headers=marketer.headers)).status_code == 403
    listed = await client.get("/v1/senders", headers=marketer.headers)
    assert [item["id"] for item in listed.json()["items"]] == [sender["id"]]


async def test_revoked_sender_is_final(client, admin):
    sender = await registered_and_verified(client, admin)
    revoked = await client.post(f"/v1/senders/{sender['id']}/revoke", json={"reason": "number ported out"},
                                headers=admin.headers)
    assert revoked.json()["state"] == "revoked"
    assert revoked.json()["state_reason"] == "number ported out"
    again = await client.post(f"/v1/senders/{sender['id']}/verify", headers=admin.headers)
    assert again.status_code == 409


async def test_number_removed_from_account_is_suspended_at_next_check(client, admin, db, provider):
    sender = await registered_and_verified(client, admin)
    provider.release(OWNED[0])
    later = utcnow() + timedelta(hours=2)
    async with db.unit_of_work() as session:
        counts = await senders.recheck_due(session, provider=provider, now=later, every=timedelta(hours=1))
    assert counts == {"checked": 1, "suspended": 1, "unreachable": 0, "unregistered": 0}
    fetched = (await client.get(f"/v1/senders/{sender['id']}", headers=admin.headers)).json()
    assert fetched["state"] == "suspended"
    assert "no longer confirms" in fetched["state_reason"]
    audit = await client.get("/v1/audit", params={"action": "sender.suspended"}, headers=admin.headers)
    assert [event["target_id"] for event in audit.json()["items"]] == [sender["id"]]


async def test_recheck_skips_senders_checked_recently(client, admin, db, provider):
    await registered_and_verified(client, admin)
    provider.release(OWNED[0])
    async with db.unit_of_work() as session:
        counts = await senders.recheck_due(session, provider=provider, now=utcnow(), every=timedelta(hours=1))
    assert counts["checked"] == 0


async def test_on_demand_verify_suspends_a_released_number(client, admin, provider):
    sender = await registered_and_verified(client, admin)
    provider.release(OWNED[0])
    response = await client.post(f"/v1/senders/{sender['id']}/verify", headers=admin.headers)
    assert response.status_code == 200
    assert response.json()["state"] == "suspended"
    fetched = (await client.get(f"/v1/senders/{sender['id']}", headers=admin.headers)).json()
    assert fetched["state"] == "suspended"


async def test_offboarding_returns_assigned_senders_to_the_pool(client, admin, marketer):
    sender = await registered_and_verified(client, admin)
    assigned = await client.post(f"/v1/senders/{sender['id']}/assign", json={"user_id": marketer.id},
                                 headers=admin.headers)
    assert assigned.json()["assigned_to_id"] == marketer.id
    offboarded = await client.post(f"/v1/users/{marketer.id}/offboard", headers=admin.headers)
    handed = offboarded.json()["handed_back"]["senders"]
    assert [item["id"] for item in handed] == [sender["id"]]
    assert handed[0]["assigned_to_id"] is None
    fetched = (await client.get(f"/v1/senders/{sender['id']}", headers=admin.headers)).json()
    assert fetched["assigned_to_id"] is None and fetched["state"] == "verified"


async def test_sender_state_changes_only_through_the_lifecycle(session, admin):
    sender = Sender(kind="long_code", address="+15005550006", label="x", mps=1, state="revoked", pool=[])
    session.add(sender)
    await session.flush()
    from app.errors import Conflict

    with pytest.raises(Conflict, match="a revoked sender cannot move to verified"):
        senders._move(session, sender, "verified", actor=admin.user, reason="test")
