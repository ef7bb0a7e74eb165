"""Segments over HTTP (docs/api.md, "Segments"): saved filters, previews, and campaigns that take one —
the review shows the audience after the filter, the approval binds to the filter, and the launch
materialises only the people the filter passes, never anyone without consent."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from app.audience import consent
from app.models import Campaign, Message, Review
from tests.conftest import OWNED

BODY = "Fineline Demo Co: Hi {first_name|there}, our fall sale starts today. Reply STOP to opt out."
CONSENT = {"source": "web_form", "evidence": "https://acme.example/join", "consented_at": "2026-10-01T12:00:00Z"}
AUSTIN_ADULTS = {"all": [{"attribute": "city", "op": "eq", "value": "Austin"},
                         {"attribute": "age", "op": "gt", "value": 20}]}
PEOPLE = [  # phone, city, age
    ("+15125550101", "Austin", "34"),
    ("+15125550102", "Austin", 19),
    ("+15125550103", "Boston", 40),
    ("+15125550104", "Austin", 52),
    ("+15125550105", None, None),
    ("+15125550106", "Austin", 61),  # opts out below: never in any audience
]


@pytest.fixture
async def setup(client, admin, marketer, db):
    sender = (await client.post("/v1/senders", json={"kind": "long_code", "address": OWNED[0], "label": "Main"},
                                headers=admin.headers)).json()
    await client.post(f"/v1/senders/{sender['id']}/verify", headers=admin.headers)
    lst = (await client.post("/v1/lists", json={"name": "Customers", "opt_in": "single", "sender_id": sender["id"]},
                             headers=marketer.headers)).json()
    ids = {}
    for phone, city, age in PEOPLE:
        attributes = {k: v for k, v in (("city", city), ("age", age)) if v is not None}
        added = await client.post(f"/v1/lists/{lst['id']}/subscribers", headers=marketer.headers, json={
            "phone": phone, "first_name": "Ana", "attributes": attributes, "consent": CONSENT})
        assert added.status_code in (200, 201), added.text
        ids[phone] = added.json()["subscriber"]["id"]
    async with db.unit_of_work() as session:  # the last one texts STOP
        await consent.opt_out(session, PEOPLE[-1][0], channel="sms", reason="STOP")
    return {"sender_id": sender["id"], "list_id": lst["id"], "ids": ids,
            "austin_adults": {ids[p] for p, city, age in PEOPLE[:-1] if city == "Austin" and int(age) > 20}}


async def test_save_list_and_read_a_segment(client, marketer, reviewer):
    created = await client.post("/v1/segments", json={"name": "Austin adults", "filter": {
        "all": [{"attribute": "city", "op": "eq", "value": "Austin"}, {"region": "tx"}]}}, headers=marketer.headers)
    assert created.status_code == 201, created.text
    segment = created.json()
    assert segment["id"].startswith("seg_")
    assert segment["filter"] == {"all": [{"attribute": "city", "op": "eq", "value": "Austin"}, {"region": ["TX"]}]}
    listed = await client.get("/v1/segments", headers=reviewer.headers)
    assert [s["id"] for s in listed.json()["items"]] == [segment["id"]]
    one = await client.get(f"/v1/segments/{segment['id']}", headers=reviewer.headers)
    assert one.json()["filter"] == segment["filter"]
    assert (await client.get("/v1/segments/seg_nope", headers=reviewer.headers)).status_code == 404
    refused = await client.post("/v1/segments", json={"name": "x", "filter": {"region": "TX"}}, headers=reviewer.headers)
    assert refused.status_code == 403


@pytest.mark.parametrize(("bad", "path"), [
    ({"all": [{"region": "TX"}, {"attribute": "city", "op": "like", "value": "A"}]}, "filter.all[1].op"),
    ({"attribute": "age", "op": "lt", "value": "old"}, "filter.value"),
    ({"not": {"not": {"not": {"not": {"not": {"not": {"not": {"not": {"region": "TX"}}}}}}}}},
     "filter.not.not.not.not.not.not.not.not"),
    ("city = 'Austin'", "filter"),
])
async def test_a_bad_filter_is_422_with_the_path_of_the_bad_node(client, marketer, setup, bad, path):
    for url, payload in (("/v1/segments", {"name": "bad", "filter": bad}),
                         ("/v1/segments/preview", {"list_ids": [setup["list_id"]], "filter": bad}),
                         ("/v1/campaigns", {"name": "c", "sender_id": setup["sender_id"], "list_ids": [setup["list_id"]],
                                            "body": BODY, "filter": bad})):
        response = await client.post(url, json=payload, headers=marketer.headers)
        assert response.status_code == 422, (url, response.text)
        error = response.json()["error"]
        assert error["code"] == "invalid_filter"
        assert error["details"][0]["field"] == path
        assert path in error["message"]
    listed = await client.get("/v1/segments", headers=marketer.headers)
    assert listed.json()["items"] == []  # nothing half-written
    campaigns = await client.get("/v1/campaigns", headers=marketer.headers)
    assert campaigns.json()["items"] == []


async def test_preview_counts_and_samples_only_sendable_people_the_filter_passes(client, marketer, reviewer, setup):
    response = await client.post("/v1/segments/preview", json={"list_ids": [setup["list_id"]], "filter": AUSTIN_ADULTS},
                                 headers=reviewer.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(setup["austin_adults"]) == 2
    assert {s["id"] for s in body["sample"]} == setup["austin_adults"]
    assert body["filter"] == AUSTIN_ADULTS
    everyone = await client.post("/v1/segments/preview", headers=marketer.headers, json={
        "list_ids": [setup["list_id"]], "filter": {"not": {"attribute": "nobody-has-this", "op": "exists"}}})
    assert everyone.json()["count"] == 5  # the six, less the one who opted out
    missing = await client.post("/v1/segments/preview", json={"list_ids": ["lst_nope"], "filter": AUSTIN_ADULTS},
                                headers=marketer.headers)
    assert missing.status_code == 422 and missing.json()["error"]["details"][0]["field"] == "list_ids"


async def campaign_with(client, marketer, setup, **audience):
    response = await client.post("/v1/campaigns", headers=marketer.headers, json={
        "name": "Austin sale", "sender_id": setup["sender_id"], "list_ids": [setup["list_id"]], "body": BODY, **audience})
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_campaign_of_a_segment_is_reviewed_and_launched_to_the_filtered_audience(
        client, marketer, reviewer, setup, db):
    segment = (await client.post("/v1/segments", json={"name": "Austin adults", "filter": AUSTIN_ADULTS},
                                 headers=marketer.headers)).json()
    campaign = await campaign_with(client, marketer, setup, segment_id=segment["id"])
    assert campaign["segment_id"] == segment["id"] and campaign["filter"] == AUSTIN_ADULTS
    check = await client.post(f"/v1/campaigns/{campaign['id']}/check", headers=reviewer.headers)
    assert check.json()["audience"] == 2
    await client.post(f"/v1/campaigns/{campaign['id']}/submit", headers=marketer.headers)
    approved = await client.post(f"/v1/campaigns/{campaign['id']}/review", json={"decision": "approve", "comment": "ok"},
                                 headers=reviewer.headers)
    assert approved.json()["state"] == "approved", approved.text
    reviews = (await client.get(f"/v1/campaigns/{campaign['id']}/reviews", headers=reviewer.headers)).json()
    assert reviews[0]["audience_size"] == 2
    launched = await client.post(f"/v1/campaigns/{campaign['id']}/launch", headers=marketer.headers)
    assert launched.json()["state"] == "sending", launched.text
    async with db.session() as session:
        recipients = set((await session.scalars(select(Message.subscriber_id)
                                                .where(Message.campaign_id == campaign["id"]))).all())
    assert recipients == setup["austin_adults"]


async def test_the_approval_binds_to_the_filter(client, marketer, reviewer, setup, db):
    campaign = await campaign_with(client, marketer, setup, filter=AUSTIN_ADULTS)
    await client.post(f"/v1/campaigns/{campaign['id']}/submit", headers=marketer.headers)
    await client.post(f"/v1/campaigns/{campaign['id']}/review", json={"decision": "approve", "comment": "ok"},
                      headers=reviewer.headers)
    # the filter changed behind the API's back after approval: the launch refuses
    wider = {"attribute": "city", "op": "exists", "value": True}
    async with db.unit_of_work() as session:
        await session.execute(update(Campaign).where(Campaign.id == campaign["id"]).values(audience_filter=wider))
    refused = await client.post(f"/v1/campaigns/{campaign['id']}/launch", headers=marketer.headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "approval_void"
    async with db.session() as session:
        assert await session.scalar(select(Message.id).where(Message.campaign_id == campaign["id"])) is None
        hashes = (await session.scalars(select(Review.content_hash).where(Review.campaign_id == campaign["id"]))).all()
    # the same content without a filter hashes differently, so no approval carries over between them
    unfiltered = await campaign_with(client, marketer, setup)
    await client.post(f"/v1/campaigns/{unfiltered['id']}/submit", headers=marketer.headers)
    await client.post(f"/v1/campaigns/{unfiltered['id']}/review", json={"decision": "approve", "comment": "ok"},
                      headers=reviewer.headers)
    other = (await client.get(f"/v1/campaigns/{unfiltered['id']}/reviews", headers=reviewer.headers)).json()
    assert other[0]["content_hash"] != hashes[0]
    assert other[0]["audience_size"] == 5


async def test_editing_the_filter_after_approval_returns_the_campaign_to_draft(client, marketer, reviewer, setup):
    campaign = await campaign_with(client, marketer, setup, filter=AUSTIN_ADULTS)
    await client.post(f"/v1/campaigns/{campaign['id']}/submit", headers=marketer.headers)
    await client.post(f"/v1/campaigns/{campaign['id']}/review", json={"decision": "approve", "comment": "ok"},
                      headers=reviewer.headers)
    edited = await client.patch(f"/v1/campaigns/{campaign['id']}", json={"filter": {"region": "MA"}},
                                headers=marketer.headers)
    assert edited.status_code == 200, edited.text
    assert edited.json()["state"] == "draft" and edited.json()["filter"] == {"region": ["MA"]}
    cleared = await client.patch(f"/v1/campaigns/{campaign['id']}", json={"filter": None}, headers=marketer.headers)
    assert cleared.json()["filter"] is None and cleared.json()["segment_id"] is None
    bad = await client.patch(f"/v1/campaigns/{campaign['id']}", json={"filter": {"region": "Texas"}},
                             headers=marketer.headers)
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "filter.region"
    assert (await client.get(f"/v1/campaigns/{campaign['id']}", headers=marketer.headers)).json()["filter"] is None


async def test_segment_and_filter_together_or_an_unknown_segment_are_422(client, marketer, setup):
    for audience, field in (({"segment_id": "seg_nope"}, "segment_id"),
                            ({"segment_id": "seg_nope", "filter": AUSTIN_ADULTS}, "filter")):
        response = await client.post("/v1/campaigns", headers=marketer.headers, json={
            "name": "c", "sender_id": setup["sender_id"], "list_ids": [setup["list_id"]], "body": BODY, **audience})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"][0]["field"] == field


async def test_placeholder_values_are_read_from_the_filtered_audience(client, marketer, reviewer, setup):
    body = "Fineline Demo Co: see you in {attributes.city|town}! Reply STOP to opt out."
    unfiltered = await campaign_with(client, marketer, setup, body=body)
    filtered = await campaign_with(client, marketer, setup, body=body, filter={"attribute": "age", "op": "gt", "value": 35})

    async def values(campaign):
        check = await client.post(f"/v1/campaigns/{campaign['id']}/check", headers=reviewer.headers)
        assert check.status_code == 200, check.text
        (placeholder,) = check.json()["placeholders"]
        return set(placeholder["examples"]), check.json()["audience"]

    # every sendable person's value (a suppressed number elsewhere in the table hides nobody else's)
    assert await values(unfiltered) == ({"Austin", "Boston"}, 5)
    assert await values(filtered) == ({"Austin", "Boston"}, 2)  # 52 in Austin, 40 in Boston
    only_boston = await campaign_with(client, marketer, setup, body=body,
                                      filter={"attribute": "city", "op": "ne", "value": "Austin"})
    assert await values(only_boston) == ({"Boston"}, 1)
