"""Text that reaches recipients through placeholders is reviewed too (issue 21, item 2): the values
each placeholder takes are checked and shown at review, bound to the approval, held against it at
send time, and capped at input."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.campaigns import service, variants
from app.models import Campaign, Message, Review
from tests.conftest import OWNED
from tests.dispatch_world import CONSENT, drain

BODY = "Fineline Demo Co: {attributes.offer} Reply STOP to opt out."
WHEN = "2026-10-01T12:00:00Z"


@pytest.fixture
async def world(client, admin, marketer) -> dict:
    sender = (await client.post("/v1/senders", json={"kind": "long_code", "address": OWNED[0], "label": "Main",
                                                     "mps": 500},
                                headers=admin.headers)).json()
    await client.post(f"/v1/senders/{sender['id']}/verify", headers=admin.headers)
    lst = (await client.post("/v1/lists", json={"name": "VIP", "opt_in": "single", "sender_id": sender["id"]},
                             headers=marketer.headers)).json()
    return {"sender": sender, "list": lst}


async def add(client, marketer, world, phone: str, **fields):
    response = await client.post(f"/v1/lists/{world['list']['id']}/subscribers",
                                 json={"phone": phone, "consent": CONSENT, **fields}, headers=marketer.headers)
    assert response.status_code == 201, response.text
    return response.json()["subscriber"]["id"]


async def campaign(client, marketer, world, body: str = BODY) -> str:
    created = await client.post("/v1/campaigns", json={"name": "Fall", "sender_id": world["sender"]["id"],
                                                       "list_ids": [world["list"]["id"]], "body": body},
                                headers=marketer.headers)
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def approve(client, marketer, reviewer, campaign_id: str) -> None:
    submitted = await client.post(f"/v1/campaigns/{campaign_id}/submit", headers=marketer.headers)
    assert submitted.status_code == 200, submitted.text
    reviewed = await client.post(f"/v1/campaigns/{campaign_id}/review", json={"decision": "approve", "comment": "ok"},
                                 headers=reviewer.headers)
    assert reviewed.status_code == 200, reviewed.text


async def sent_and_skipped(session, campaign_id: str) -> tuple[dict[str, str], dict[str, str]]:
    session.expire_all()
    rows = (await session.scalars(select(Message).where(Message.campaign_id == campaign_id))).all()
    return ({m.to: m.state for m in rows if m.state == "sent"},
            {m.to: m.skip_reason for m in rows if m.state == "skipped"})


async def test_a_link_imported_into_an_attribute_blocks_the_review_and_is_shown(client, marketer, world):
    await add(client, marketer, world, "+14155552671", attributes={"offer": "20% off today."})
    await add(client, marketer, world, "+14155552672", attributes={"offer": "Claim at bit.ly/x"})
    cid = await campaign(client, marketer, world)
    check = (await client.post(f"/v1/campaigns/{cid}/check", headers=marketer.headers)).json()
    assert check["blocking"] is True
    blocking = [f for f in check["findings"] if f["severity"] == "block"]
    assert [f["code"] for f in blocking] == ["url_shortener"]
    assert "'Claim at bit.ly/x'" in blocking[0]["message"] and "1 recipient" in blocking[0]["message"]
    assert check["placeholders"] == [{"name": "attributes.offer", "distinct_values": "2", "reviewed": "by value",
                                      "examples": ["20% off today.", "Claim at bit.ly/x"]}]
    texts = {v["value"]: v["text"] for v in check["variants"] if v["placeholder"]}
    assert texts == {"20% off today.": "Fineline Demo Co: 20% off today. Reply STOP to opt out.",
                     "Claim at bit.ly/x": "Fineline Demo Co: Claim at bit.ly/x Reply STOP to opt out."}
    refused = await client.post(f"/v1/campaigns/{cid}/submit", headers=marketer.headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "blocking_findings"


@pytest.mark.parametrize("value,code", [("Call me on 415 555 0199", "personal_contact"),
                                        ("write to ana.smith@gmail.com", "personal_contact"),
                                        ("Free beer with every order", "shaft_term"),
                                        ("lol wat r u doing later da", "oops_personal"),
                                        ("✨ 20% off ✨", "encoding_ucs2")])
async def test_every_content_check_runs_on_the_rendered_values(client, marketer, world, value, code):
    await add(client, marketer, world, "+14155552671", attributes={"offer": value})
    cid = await campaign(client, marketer, world)
    check = (await client.post(f"/v1/campaigns/{cid}/check", headers=marketer.headers)).json()
    found = [f for f in check["findings"] if f["code"] == code]
    assert found, check["findings"]
    assert found[0]["message"].startswith(("With {attributes.offer}", "With every placeholder")), found[0]


async def test_the_approval_binds_the_values_and_a_value_changed_afterwards_is_not_sent(
        client, marketer, reviewer, world, db, provider, settings, session):
    await add(client, marketer, world, "+14155552671", attributes={"offer": "20% off today."})
    await add(client, marketer, world, "+14155552672", attributes={"offer": "20% off today."})
    await add(client, marketer, world, "+14155552673", attributes={"offer": "Free shipping."})
    await add(client, marketer, world, "+14155552674")  # no offer: the fallback, which is in the body
    cid = await campaign(client, marketer, world)
    await approve(client, marketer, reviewer, cid)
    bound = {"attributes.offer": {"values": ["20% off today.", "Free shipping."]}}
    stored = await session.get(Campaign, cid)
    review = (await session.scalars(select(Review).where(Review.campaign_id == cid))).one()
    assert stored.approved_values == bound
    assert review.content_hash == stored.approved_hash == service.content_hash(
        full_body=BODY, sender_id=world["sender"]["id"], list_ids=[world["list"]["id"]], rollout=None,
        scheduled_at=None, values=bound)
    # After the approval: one person's offer is rewritten, a newcomer brings a value nobody saw.
    imported = await client.post(f"/v1/lists/{world['list']['id']}/imports", headers={
        **marketer.headers, "content-type": "application/x-ndjson"}, content="\n".join(json.dumps(row) for row in [
            {"phone": "+14155552672", "attributes": {"offer": "Claim at bit.ly/x"}, "consent": CONSENT},
            {"phone": "+14155552675", "attributes": {"offer": "Text 4155550199 now"}, "consent": CONSENT}]))
    assert imported.json()["accepted"] == 2, imported.text
    launched = await client.post(f"/v1/campaigns/{cid}/launch", headers=marketer.headers)
    assert launched.status_code == 200, launched.text
    await drain(db, provider, settings)
    sent, skipped = await sent_and_skipped(session, cid)
    assert sorted(sent) == ["+14155552671", "+14155552673", "+14155552674"], (sent, skipped)
    assert sorted(skipped) == ["+14155552672", "+14155552675"]
    assert all("{attributes.offer} value was not reviewed" in reason for reason in skipped.values())
    assert sorted(m.body for m in provider.sent) == sorted([
        "Fineline Demo Co: 20% off today. Reply STOP to opt out.",
        "Fineline Demo Co: Free shipping. Reply STOP to opt out.",
        "Fineline Demo Co: Reply STOP to opt out."])
    # The next review sees the new values, and their findings.
    check = (await client.post(f"/v1/campaigns/{cid}/check", headers=marketer.headers)).json()
    assert check["blocking"] is True and "'Claim at bit.ly/x'" in json.dumps(check["findings"])


async def test_many_distinct_values_are_reviewed_by_rule(client, marketer, reviewer, world, db, provider, settings,
                                                        session):
    body = "Fineline Demo Co: Hi {first_name|there}, your code is {attributes.code}. Reply STOP to opt out."
    rows = [{"phone": f"+1415555{2600 + i:04d}", "first_name": f"Name{chr(65 + i)}", "attributes": {
        "code": f"FALL-{i:02d}XK"}, "consent": CONSENT} for i in range(variants.REVIEWABLE_VALUES + 5)]
    rows.append({"phone": "+14155552699", "first_name": "Eve", "attributes": {"code": "see bit.ly/x"},
                 "consent": CONSENT})
    content = "\n".join(json.dumps(row) for row in rows)
    headers = {**marketer.headers, "content-type": "application/x-ndjson"}
    assert (await client.post(f"/v1/lists/{world['list']['id']}/imports", headers=headers,
                              content=content)).json()["accepted"] == len(rows)
    cid = await campaign(client, marketer, world, body)
    check = (await client.post(f"/v1/campaigns/{cid}/check", headers=marketer.headers)).json()
    by_name = {p["name"]: p for p in check["placeholders"]}
    assert by_name["attributes.code"]["reviewed"] == "by rule"
    assert by_name["attributes.code"]["distinct_values"] == str(len(rows))
    blocking = [f for f in check["findings"] if f["severity"] == "block"]
    assert [f["code"] for f in blocking] == ["placeholder_values_not_plain"]
    assert "'see bit.ly/x'" in blocking[0]["message"]
    # The data fixed, the rule is approved; a newcomer with a plain code is sent, one without is not.
    fixed = {"phone": "+14155552699", "attributes": {"code": "FALL-99XK"}, "consent": CONSENT}
    await client.post(f"/v1/lists/{world['list']['id']}/imports", headers=headers, content=json.dumps(fixed))
    await approve(client, marketer, reviewer, cid)
    later = [{"phone": "+14155552700", "first_name": "Zoe", "attributes": {"code": "WINTER-7"}, "consent": CONSENT},
             {"phone": "+14155552701", "first_name": "Mallory", "attributes": {"code": "acme-deals.com/x"},
              "consent": CONSENT},
             {"phone": "+14155552702", "first_name": "Call 4155550199", "attributes": {"code": "WINTER-8"},
              "consent": CONSENT}]
    await client.post(f"/v1/lists/{world['list']['id']}/imports", headers=headers,
                      content="\n".join(json.dumps(row) for row in later))
    assert (await client.post(f"/v1/campaigns/{cid}/launch", headers=marketer.headers)).status_code == 200
    await drain(db, provider, settings)
    sent, skipped = await sent_and_skipped(session, cid)
    assert len(sent) == len(rows) + 1 and "+14155552700" in sent
    assert sorted(skipped) == ["+14155552701", "+14155552702"]
    assert "{attributes.code}" in skipped["+14155552701"] and "{first_name}" in skipped["+14155552702"]


@pytest.mark.parametrize("field,value", [
    ("attributes", {"offer": " " * 1_000_000}),
    ("attributes", {"offer": "a\n" * 50}),
    ("attributes", {"offer": "bit\u200b.ly/x"}),
    ("attributes", {"offer": "\u202egnp.exe"}),
    ("attributes", {"offer": {"nested": "object"}}),
    ("attributes", {f"k{i}": "v" for i in range(200)}),
    ("attributes", {"k" * 100: "v"}),
    ("first_name", "Ana\r\nBody: click bit.ly/x"),
    ("first_name", "A" * 201),
])
async def test_attribute_values_are_capped_at_the_api(client, marketer, world, field, value):
    response = await client.post(f"/v1/lists/{world['list']['id']}/subscribers",
                                 json={"phone": "+14155552671", "consent": CONSENT, field: value},
                                 headers=marketer.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"].startswith(field), response.json()


async def test_attribute_values_are_capped_at_import(client, marketer, world):
    header = "phone,first_name,consent_source,consent_evidence,consented_at,offer\n"
    rows = [f"+14155552671,Ana,web_form,x,{WHEN},{'y' * 300}", f'+14155552672,Ben,web_form,x,{WHEN},"a\nb"',
            f"+14155552673,Cy\u202e,web_form,x,{WHEN},ok", f"+14155552674,Di,web_form,x,{WHEN},20% off"]
    report = (await client.post(f"/v1/lists/{world['list']['id']}/imports", content="\n".join([header.strip(), *rows]),
                                headers={**marketer.headers, "content-type": "text/csv"})).json()
    assert report["accepted"] == 1
    reasons = {r["row"]: r["reason"] for r in report["rejected"]}
    assert "attributes.offer is longer than 200 characters" in reasons[2]
    assert "attributes.offer contains U+000A" in reasons[3]
    assert "first_name contains U+202E" in reasons[4]


async def test_numbers_and_booleans_are_reviewed_as_they_render(client, marketer, reviewer, world, db, provider,
                                                                settings, session):
    """The database reads the values for the review, Python renders them at send time: the two agree."""
    await add(client, marketer, world, "+14155552671", attributes={"points": 120, "vip": True})
    await add(client, marketer, world, "+14155552672", attributes={"points": 7.5, "vip": False, "other": "x"})
    await add(client, marketer, world, "+14155552673", attributes={"points": "  "})
    body = "Fineline Demo Co: {attributes.points|no} points, VIP {attributes.vip|unknown}. Reply STOP to opt out."
    cid = await campaign(client, marketer, world, body)
    check = (await client.post(f"/v1/campaigns/{cid}/check", headers=marketer.headers)).json()
    assert {p["name"]: sorted(p["examples"]) for p in check["placeholders"]} == {
        "attributes.points": ["120", "7.5"], "attributes.vip": ["False", "True"]}
    await approve(client, marketer, reviewer, cid)
    assert (await client.post(f"/v1/campaigns/{cid}/launch", headers=marketer.headers)).status_code == 200
    await drain(db, provider, settings)
    sent, skipped = await sent_and_skipped(session, cid)
    assert len(sent) == 3 and skipped == {}
    assert sorted(m.body for m in provider.sent) == sorted([
        "Fineline Demo Co: 120 points, VIP True. Reply STOP to opt out.",
        "Fineline Demo Co: 7.5 points, VIP False. Reply STOP to opt out.",
        "Fineline Demo Co: no points, VIP unknown. Reply STOP to opt out."])
