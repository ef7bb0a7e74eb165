"""Finding people (issue 18, part 2): a list's subscribers in keyset pages, a subscriber by any
spelling of their number, and an audited edit of their attributes and time zone — whose changed
values are still held against a campaign's approval right before sending."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import AuditEvent, Message, Subscriber
from tests.conftest import OWNED
from tests.dispatch_world import CONSENT, drain

PHONES = [f"+1415555{n:04d}" for n in range(2671, 2678)]


@pytest.fixture
async def world(client, admin, marketer) -> dict:
    sender = (await client.post("/v1/senders", json={"kind": "long_code", "address": OWNED[0], "label": "Main",
                                                     "mps": 500}, headers=admin.headers)).json()
    await client.post(f"/v1/senders/{sender['id']}/verify", headers=admin.headers)
    lst = (await client.post("/v1/lists", json={"name": "VIP", "opt_in": "single", "sender_id": sender["id"]},
                             headers=marketer.headers)).json()
    ids = {}
    for phone in PHONES:
        added = await client.post(f"/v1/lists/{lst['id']}/subscribers",
                                  json={"phone": phone, "first_name": "Ana", "attributes": {"tier": "gold"},
                                        "consent": CONSENT}, headers=marketer.headers)
        assert added.status_code == 201, added.text
        ids[phone] = added.json()["subscriber"]["id"]
    return {"sender": sender, "list": lst, "ids": ids}


async def test_a_lists_subscribers_come_in_keyset_pages_filtered_by_state(client, admin, marketer, reviewer, ops,
                                                                          world):
    lid = world["list"]["id"]
    # one person unsubscribes (by erasure: the opt-out unsubscribes them everywhere)
    erased = await client.delete(f"/v1/subscribers/{world['ids'][PHONES[2]]}", headers=admin.headers)
    assert erased.status_code == 200, erased.text
    seen, cursor = [], None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = await client.get(f"/v1/lists/{lid}/subscribers", params=params, headers=reviewer.headers)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= 3
        seen += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [item["id"] for item in seen] == sorted(world["ids"].values())  # each once, in id order
    assert {item["subscription"]["list_id"] for item in seen} == {lid}
    states = {item["phone"]: item["subscription"]["state"] for item in seen}
    assert states[PHONES[2]] == "unsubscribed" and states[PHONES[1]] == "subscribed"
    subscribed = await client.get(f"/v1/lists/{lid}/subscribers", params={"state": "subscribed", "limit": 500},
                                  headers=ops.headers)
    assert sorted(item["phone"] for item in subscribed.json()["items"]) == sorted(p for p in PHONES if p != PHONES[2])
    unsubscribed = await client.get(f"/v1/lists/{lid}/subscribers", params={"state": "unsubscribed"},
                                    headers=marketer.headers)
    assert [item["phone"] for item in unsubscribed.json()["items"]] == [PHONES[2]]
    bad = await client.get(f"/v1/lists/{lid}/subscribers", params={"state": "gone"}, headers=marketer.headers)
    assert bad.status_code == 422 and "state" in bad.text
    missing = await client.get("/v1/lists/lst_nope/subscribers", headers=marketer.headers)
    assert missing.status_code == 404


@pytest.mark.parametrize("spelling", ["(415) 555-2673", "+1 415-555-2673", "415.555.2673", "14155552673",
                                      "+14155552673"])
async def test_a_subscriber_is_found_by_any_spelling_of_their_number(client, marketer, ops, world, spelling):
    found = await client.get("/v1/subscribers", params={"phone": spelling}, headers=marketer.headers)
    assert found.status_code == 200, found.text
    assert [item["id"] for item in found.json()["items"]] == [world["ids"]["+14155552673"]]
    assert found.json()["next_cursor"] is None


async def test_a_number_nobody_has_is_an_empty_answer_and_a_non_number_is_422(client, marketer, reviewer, world):
    none = await client.get("/v1/subscribers", params={"phone": "+1 415 555 9999"}, headers=marketer.headers)
    assert none.status_code == 200 and none.json()["items"] == []
    bad = await client.get("/v1/subscribers", params={"phone": "not a number"}, headers=marketer.headers)
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_phone" and bad.json()["error"]["details"][0]["field"] == "phone"
    absent = await client.get("/v1/subscribers", headers=marketer.headers)
    assert absent.status_code == 422 and "phone" in absent.text
    forbidden = await client.get("/v1/subscribers", params={"phone": PHONES[0]}, headers=reviewer.headers)
    assert forbidden.status_code == 403


async def test_patch_changes_attributes_and_time_zone_and_is_audited_without_values(client, marketer, world,
                                                                                    session):
    sid = world["ids"][PHONES[1]]
    patched = await client.patch(f"/v1/subscribers/{sid}", json={
        "attributes": {"tier": None, "city": "Oakland", "visits": 3}, "time_zone": "America/Chicago"},
        headers=marketer.headers)
    assert patched.status_code == 200, patched.text
    assert patched.json()["attributes"] == {"city": "Oakland", "visits": 3}
    assert patched.json()["time_zone"] == "America/Chicago"
    stored = await session.get(Subscriber, sid)
    await session.refresh(stored)
    assert stored.time_zones == ["America/Chicago"]  # quiet hours follow the zone given
    event = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "subscriber.edited",
                                                            AuditEvent.target_id == sid))).one()
    assert event.actor_id == marketer.id
    assert event.details == {"attributes": ["city", "tier", "visits"], "time_zone": "America/Chicago"}
    assert "Oakland" not in str(event.details)  # names, never values: the log outlives an erasure
    # back to the zones the number implies
    derived = await client.patch(f"/v1/subscribers/{sid}", json={"time_zone": None}, headers=marketer.headers)
    assert derived.json()["time_zone"] == "America/Los_Angeles"
    # nothing changes: nothing is audited
    again = await client.patch(f"/v1/subscribers/{sid}", json={"attributes": {"city": "Oakland"}},
                               headers=marketer.headers)
    assert again.status_code == 200
    events = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "subscriber.edited",
                                                             AuditEvent.target_id == sid))).all()
    assert len(events) == 2


@pytest.mark.parametrize("payload,field", [
    ({"attributes": {"note": "line one\nline two"}}, "attributes"),
    ({"attributes": {"nested": {"a": 1}}}, "attributes"),
    ({"attributes": {"long": "x" * 201}}, "attributes"),
    ({"attributes": None}, "attributes"),
    ({"first_name": "Ana\u202e"}, "first_name"),
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"phone": "+14155550000"}, "phone"),
])
async def test_bad_edits_are_422_naming_the_field_and_change_nothing(client, marketer, world, session, payload,
                                                                     field):
    sid = world["ids"][PHONES[3]]
    refused = await client.patch(f"/v1/subscribers/{sid}", json=payload, headers=marketer.headers)
    assert refused.status_code == 422, refused.text
    assert field in refused.text
    stored = await session.get(Subscriber, sid)
    await session.refresh(stored)
    assert (stored.attributes, stored.first_name, stored.time_zone) == ({"tier": "gold"}, "Ana",
                                                                         "America/Los_Angeles")


async def test_too_many_attributes_after_the_merge_is_422(client, marketer, world):
    sid = world["ids"][PHONES[4]]
    many = {f"k{i}": "v" for i in range(50)}  # 50 given + the stored "tier" = 51
    refused = await client.patch(f"/v1/subscribers/{sid}", json={"attributes": many}, headers=marketer.headers)
    assert refused.status_code == 422 and refused.json()["error"]["details"][0]["field"] == "attributes"


async def test_only_marketers_edit_and_an_erased_subscriber_cannot_be_refilled(client, marketer, ops, admin, world):
    sid = world["ids"][PHONES[5]]
    forbidden = await client.patch(f"/v1/subscribers/{sid}", json={"first_name": "Bo"}, headers=ops.headers)
    assert forbidden.status_code == 403
    assert (await client.delete(f"/v1/subscribers/{sid}", headers=admin.headers)).status_code == 200
    refused = await client.patch(f"/v1/subscribers/{sid}", json={"attributes": {"tier": "gold"}},
                                 headers=marketer.headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "subscriber_erased"
    missing = await client.patch("/v1/subscribers/sub_nope", json={"first_name": "Bo"}, headers=marketer.headers)
    assert missing.status_code == 404


async def test_an_edited_value_nobody_reviewed_is_not_sent(client, marketer, reviewer, world, db, provider, settings,
                                                           session):
    """The same rule as an import: an approved campaign's values are held against the approval right
    before sending, so a PATCH cannot put unreviewed text in front of a recipient."""
    cid = (await client.post("/v1/campaigns", json={
        "name": "Tiers", "sender_id": world["sender"]["id"], "list_ids": [world["list"]["id"]],
        "body": "Fineline Demo Co: your {attributes.tier} perks are here. Reply STOP to opt out."},
        headers=marketer.headers)).json()["id"]
    await client.post(f"/v1/campaigns/{cid}/submit", headers=marketer.headers)
    approved = await client.post(f"/v1/campaigns/{cid}/review", json={"decision": "approve", "comment": "ok"},
                                 headers=reviewer.headers)
    assert approved.json()["state"] == "approved"
    edited = await client.patch(f"/v1/subscribers/{world['ids'][PHONES[6]]}",
                                json={"attributes": {"tier": "Call 4155550199 for"}}, headers=marketer.headers)
    assert edited.status_code == 200
    launched = await client.post(f"/v1/campaigns/{cid}/launch", headers=marketer.headers)
    assert launched.status_code == 200, launched.text
    await drain(db, provider, settings)
    rows = (await session.scalars(select(Message).where(Message.campaign_id == cid))).all()
    skipped = {m.to: m.skip_reason for m in rows if m.state == "skipped"}
    assert list(skipped) == [PHONES[6]] and "{attributes.tier} value was not reviewed" in skipped[PHONES[6]]
    assert {m.to for m in provider.sent} == set(PHONES) - {PHONES[6]}
    assert all("4155550199" not in m.body for m in provider.sent)
