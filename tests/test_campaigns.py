"""Campaigns and content review (invariant 4): nothing goes out without a second pair of eyes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import Review
from app.vocab.alert import AlertState
from app.vocab.audience import ConsentSource, SubscriptionState
from app.vocab.campaign import CampaignState
from app.vocab.message import MessageState
from app.vocab.roles import Role
from app.vocab.sender import SenderKind, SenderState
from tests.conftest import OWNED

GOOD_BODY = "Fineline Demo Co: Hi {first_name|there}, our fall sale starts today, 20% off in store. Reply STOP to opt out."


@pytest.fixture
async def setup(client, admin, marketer):
    sender = (await client.post("/v1/senders", json={"kind": "long_code", "address": OWNED[0], "label": "Main"},
                                headers=admin.headers)).json()
    await client.post(f"/v1/senders/{sender['id']}/verify", headers=admin.headers)
    lst = (await client.post("/v1/lists", json={"name": "VIP", "opt_in": "single", "sender_id": sender["id"]},
                             headers=marketer.headers)).json()
    consent = {"source": "web_form", "evidence": "https://acme.example/join", "consented_at": "2026-10-01T12:00:00Z"}
    for phone, name in (("+14155552671", "Ana"), ("+14155552672", None)):
        await client.post(f"/v1/lists/{lst['id']}/subscribers", json={"phone": phone, "first_name": name,
                                                                        "consent": consent}, headers=marketer.headers)
    return {"sender_id": sender["id"], "list_id": lst["id"]}


async def create(client, marketer, setup, **overrides):
    payload = {"name": "Fall sale", "sender_id": setup["sender_id"], "list_ids": [setup["list_id"]], "body": GOOD_BODY,
               **overrides}
    response = await client.post("/v1/campaigns", json=payload, headers=marketer.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def to_approved(client, marketer, reviewer, setup, **overrides):
    campaign = await create(client, marketer, setup, **overrides)
    submitted = await client.post(f"/v1/campaigns/{campaign['id']}/submit", headers=marketer.headers)
    assert submitted.status_code == 200, submitted.text
    approved = await client.post(f"/v1/campaigns/{campaign['id']}/review",
                                 json={"decision": "approve", "comment": "looks right"}, headers=reviewer.headers)
    assert approved.status_code == 200, approved.text
    return approved.json()


async def test_check_returns_findings_samples_and_cost(client, marketer, reviewer, setup):
    campaign = await create(client, marketer, setup, body="Hey babe lol call me later xoxo {nickname}")
    response = await client.post(f"/v1/campaigns/{campaign['id']}/check", headers=reviewer.headers)
    assert response.status_code == 200, response.text
    result = response.json()
    codes = {f["code"]: f["severity"] for f in result["findings"]}
    assert codes["opt_out_missing"] == "block"
    assert codes["unknown_placeholder"] == "block"
    assert codes["oops_personal"] == "warn"
    assert result["blocking"] is True
    assert result["audience"] == 2 and result["estimated_segments_total"] == 2 * result["segments"]
    clean = await create(client, marketer, setup)
    samples = (await client.post(f"/v1/campaigns/{clean['id']}/check", headers=marketer.headers)).json()["samples"]
    assert [s["text"].split(",")[0] for s in samples] == ["Fineline Demo Co: Hi Ana", "Fineline Demo Co: Hi there"]
    after = (await client.get(f"/v1/campaigns/{campaign['id']}", headers=marketer.headers)).json()
    assert after["state"] == "draft"


async def test_submit_is_refused_while_a_blocking_finding_stands(client, marketer, setup):
    campaign = await create(client, marketer, setup, body="Fineline Demo Co: sale today at bit.ly/x1. Reply STOP to opt out.")
    response = await client.post(f"/v1/campaigns/{campaign['id']}/submit", headers=marketer.headers)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "blocking_findings"
    assert "url_shortener" in [f["code"] for f in error["details"]]


async def test_author_cannot_review_own_campaign(client, db, setup):
    from tests.factories import make_user

    async with db.unit_of_work() as session:
        both = await make_user(session, roles=["marketer", "reviewer"])
    campaign = await create(client, both, setup)
    await client.post(f"/v1/campaigns/{campaign['id']}/submit", headers=both.headers)
    response = await client.post(f"/v1/campaigns/{campaign['id']}/review", json={"decision": "approve", "comment": ""},
                                 headers=both.headers)
    assert response.status_code == 403
    assert "author of a campaign cannot review it" in response.json()["error"]["message"]


async def test_full_path_to_sending_and_pause_resume_cancel(client, marketer, reviewer, ops, setup, session):
    campaign = await to_approved(client, marketer, reviewer, setup)
    assert campaign["state"] == "approved" and campaign["approved_by_id"] == reviewer.id
    [review] = (await session.scalars(select(Review).where(Review.campaign_id == campaign["id"]))).all()
    assert review.decision == "approve" and review.comment == "looks right" and review.audience_size == 2
    launched = await client.post(f"/v1/campaigns/{campaign['id']}/launch", headers=marketer.headers)
    assert launched.json()["state"] == "sending"
    paused = await client.post(f"/v1/campaigns/{campaign['id']}/pause", json={"comment": "checking"}, headers=ops.headers)
    assert paused.json()["state"] == "paused" and paused.json()["paused_by_guard"] is False  # its owner resumes it
    resumed = await client.post(f"/v1/campaigns/{campaign['id']}/resume", headers=marketer.headers)
    assert resumed.json()["state"] == "sending"
    cancelled = await client.post(f"/v1/campaigns/{campaign['id']}/cancel", headers=marketer.headers)
    assert cancelled.json()["state"] == "cancelled"
    again = await client.post(f"/v1/campaigns/{campaign['id']}/resume", headers=ops.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "illegal_transition"
    audit = (await client.get("/v1/audit", params={"target_id": campaign["id"], "action": "campaign.state"},
                              headers=(await _admin_headers(client, session)))).json()["items"]
    assert [e["details"]["state"] for e in reversed(audit)] == [
        "in_review", "approved", "sending", "paused", "sending", "cancelled"]


async def _admin_headers(client, session):
    from tests.factories import make_user

    actor = await make_user(session, roles=["admin"])
    await session.commit()
    return actor.headers


async def test_future_schedule_launches_to_scheduled(client, marketer, reviewer, setup):
    campaign = await to_approved(client, marketer, reviewer, setup, scheduled_at="2099-01-01T15:00:00Z")
    launched = await client.post(f"/v1/campaigns/{campaign['id']}/launch", headers=marketer.headers)
    assert launched.json()["state"] == "scheduled"


async def test_edit_after_approval_returns_to_draft_and_voids_approval(client, marketer, reviewer, setup):
    campaign = await to_approved(client, marketer, reviewer, setup)
    edited = await client.patch(f"/v1/campaigns/{campaign['id']}", json={"body": GOOD_BODY + " Ends Sunday."},
                                headers=marketer.headers)
    assert edited.status_code == 200
    assert edited.json()["state"] == "draft" and edited.json()["approved_by_id"] is None
    launch = await client.post(f"/v1/campaigns/{campaign['id']}/launch", headers=marketer.headers)
    assert launch.status_code == 409


async def test_request_changes_then_resubmit(client, marketer, reviewer, setup):
    campaign = await create(client, marketer, setup)
    await client.post(f"/v1/campaigns/{campaign['id']}/submit", headers=marketer.headers)
    asked = await client.post(f"/v1/campaigns/{campaign['id']}/review",
                              json={"decision": "request_changes", "comment": "mention the end date"},
                              headers=reviewer.headers)
    assert asked.json()["state"] == "changes_requested"
    assert asked.json()["state_reason"] == "mention the end date"
    edited = await client.patch(f"/v1/campaigns/{campaign['id']}", json={"body": GOOD_BODY + " Ends Sunday."},
                                headers=marketer.headers)
    assert edited.json()["state"] == "draft"
    assert (await client.post(f"/v1/campaigns/{campaign['id']}/submit", headers=marketer.headers)).json()["state"] == "in_review"


async def test_unverified_sender_blocks_and_launch_rechecks_sender(client, admin, marketer, reviewer, setup):
    campaign = await to_approved(client, marketer, reviewer, setup)
    await client.post(f"/v1/senders/{setup['sender_id']}/revoke", headers=admin.headers)
    launch = await client.post(f"/v1/campaigns/{campaign['id']}/launch", headers=marketer.headers)
    assert launch.status_code == 409
    other = await create(client, marketer, setup)
    check = (await client.post(f"/v1/campaigns/{other['id']}/check", headers=marketer.headers)).json()
    assert {"sender_not_verified"} <= {f["code"] for f in check["findings"] if f["severity"] == "block"}


async def test_test_send_only_to_own_numbers_and_counted_apart(client, marketer, setup, provider):
    campaign = await create(client, marketer, setup)
    refused = await client.post(f"/v1/campaigns/{campaign['id']}/test-send", json={"to": ["+14155552671"]},
                                headers=marketer.headers)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "not_a_test_number"
    assert provider.sent == []
    from tests.factories import verified_test_number

    await verified_test_number(client, marketer, "+14155550199", provider)
    sent = await client.post(f"/v1/campaigns/{campaign['id']}/test-send", json={"to": ["(415) 555-0199"]},
                             headers=marketer.headers)
    assert sent.status_code == 200, sent.text
    assert sent.json()["body"].startswith("[TEST] Fineline Demo Co: Hi there")
    assert [m.to for m in provider.sent] == ["+14155550199"] * 2  # the one-time code, then the test
    assert provider.sent[-1].body == sent.json()["body"]
    fetched = (await client.get(f"/v1/campaigns/{campaign['id']}", headers=marketer.headers)).json()
    assert fetched["test_sends"] == 1 and fetched["state"] == "draft"


async def test_21610_on_a_test_send_is_an_opt_out_like_any_other(client, marketer, setup, provider, monkeypatch):
    from app.providers.errors import RecipientOptedOut
    from tests.factories import verified_test_number

    campaign = await create(client, marketer, setup)
    await verified_test_number(client, marketer, "+14155550199", provider)
    create_message = provider._create_message

    async def carrier_says_stop(sender, *, to, body, status_callback):
        if body.startswith("[TEST]"):
            raise RecipientOptedOut("Attempt to send to unsubscribed recipient", code=21610, status=400)
        return await create_message(sender, to=to, body=body, status_callback=status_callback)

    monkeypatch.setattr(provider, "_create_message", carrier_says_stop)
    path = f"/v1/campaigns/{campaign['id']}/test-send"
    sent = await client.post(path, json={"to": ["+14155550199"]}, headers=marketer.headers)
    assert sent.status_code == 200, sent.text
    assert sent.json()["sent"][0]["sid"] is None and "unsubscribed" in sent.json()["sent"][0]["error"]
    # The number is suppressed now, so it is refused as a test number from then on.
    again = await client.post(path, json={"to": ["+14155550199"]}, headers=marketer.headers)
    assert again.status_code == 422 and again.json()["error"]["code"] == "opted_out"


async def test_offboarding_hands_back_drafts_and_another_marketer_takes_over(client, admin, marketer, db, setup):
    from tests.factories import make_user

    async with db.unit_of_work() as session:
        other = await make_user(session, roles=["marketer"])
    campaign = await create(client, marketer, setup)
    offboarded = (await client.post(f"/v1/users/{marketer.id}/offboard", headers=admin.headers)).json()
    assert [c["id"] for c in offboarded["handed_back"]["campaigns"]] == [campaign["id"]]
    blocked = await client.patch(f"/v1/campaigns/{campaign['id']}", json={"name": "x"}, headers=other.headers)
    assert blocked.status_code == 409 and blocked.json()["error"]["code"] == "campaign_unowned"
    taken = await client.post(f"/v1/campaigns/{campaign['id']}/take-over", headers=other.headers)
    assert taken.json()["owner_id"] == other.id


async def test_a_leavers_paused_and_approved_campaigns_are_handed_back_to_be_taken_over(
        client, admin, marketer, reviewer, ops, db, setup):
    from tests.factories import make_user

    async with db.unit_of_work() as session:
        other = await make_user(session, roles=["marketer"])
    paused = await to_approved(client, marketer, reviewer, setup)
    await client.post(f"/v1/campaigns/{paused['id']}/launch", headers=marketer.headers)
    assert (await client.post(f"/v1/campaigns/{paused['id']}/pause", json={"comment": "checking"},
                              headers=ops.headers)).json()["state"] == "paused"
    approved = await to_approved(client, marketer, reviewer, setup, name="Winter sale")
    finished = await to_approved(client, marketer, reviewer, setup, name="Old sale")
    await client.post(f"/v1/campaigns/{finished['id']}/cancel", headers=marketer.headers)
    offboarded = (await client.post(f"/v1/users/{marketer.id}/offboard", headers=admin.headers)).json()
    assert sorted(c["id"] for c in offboarded["handed_back"]["campaigns"]) == sorted([paused["id"], approved["id"]])
    # Nobody resumes a campaign nobody owns; a marketer takes it over, then resumes it.
    unowned = await client.post(f"/v1/campaigns/{paused['id']}/resume", headers=other.headers)
    assert unowned.status_code == 409 and unowned.json()["error"]["code"] == "campaign_unowned"
    assert (await client.post(f"/v1/campaigns/{paused['id']}/take-over", headers=other.headers)).status_code == 200
    resumed = await client.post(f"/v1/campaigns/{paused['id']}/resume", headers=other.headers)
    assert resumed.status_code == 200 and resumed.json()["state"] == "sending"
    await client.post(f"/v1/campaigns/{approved['id']}/take-over", headers=other.headers)
    launched = await client.post(f"/v1/campaigns/{approved['id']}/launch", headers=other.headers)
    assert launched.status_code == 200 and launched.json()["state"] == "sending"


async def test_campaign_input_errors_name_the_field(client, marketer, setup):
    bad = await client.post("/v1/campaigns", json={"name": "x", "sender_id": setup["sender_id"], "list_ids": ["lst_nope"],
                                                   "body": GOOD_BODY}, headers=marketer.headers)
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "list_ids"
    rollout = await client.post("/v1/campaigns", json={"name": "x", "sender_id": setup["sender_id"],
                                                       "list_ids": [setup["list_id"]], "body": GOOD_BODY,
                                                       "rollout": {"first_slice_percent": 150, "observe_minutes": 30}},
                                headers=marketer.headers)
    assert rollout.status_code == 422
    assert rollout.json()["error"]["details"][0]["field"] == "rollout.first_slice_percent"


async def test_suspended_or_revoked_sender_pauses_its_campaigns(client, admin, marketer, reviewer, setup, db, provider):
    from datetime import timedelta

    from app.db.base import utcnow
    from app.senders import service as senders

    sending = await to_approved(client, marketer, reviewer, setup)
    await client.post(f"/v1/campaigns/{sending['id']}/launch", headers=marketer.headers)
    draft = await create(client, marketer, setup)
    provider.release(OWNED[0])
    async with db.unit_of_work() as session:
        await senders.recheck_due(session, provider=provider, now=utcnow() + timedelta(hours=2),
                                  every=timedelta(hours=1))
    paused = (await client.get(f"/v1/campaigns/{sending['id']}", headers=marketer.headers)).json()
    assert paused["state"] == "paused"
    assert "is suspended" in paused["state_reason"]
    assert (await client.get(f"/v1/campaigns/{draft['id']}", headers=marketer.headers)).json()["state"] == "draft"



async def test_subscriber_or_opted_out_numbers_cannot_be_test_numbers(client, marketer, setup):
    response = await client.post("/v1/me/test-numbers", json={"phone": "+14155552671"}, headers=marketer.headers)
    assert response.status_code == 422 and response.json()["error"]["code"] == "not_a_test_number"


async def test_unauthenticated_lookup_is_401_not_404(client):
    for path in ("/v1/campaigns/cmp_nope", "/v1/senders/snd_nope", "/v1/lists/lst_nope"):
        assert (await client.get(path)).status_code == 401


async def test_campaigns_filter_by_state_and_name_a_bad_state(client, marketer, reviewer, setup):
    draft = await create(client, marketer, setup)
    approved = await to_approved(client, marketer, reviewer, setup)
    listed = await client.get("/v1/campaigns", params={"state": "approved"}, headers=marketer.headers)
    assert [c["id"] for c in listed.json()["items"]] == [approved["id"]]
    listed = await client.get("/v1/campaigns", params={"state": "draft"}, headers=marketer.headers)
    assert [(c["id"], c["state"], c["state_reason"]) for c in listed.json()["items"]] == [(draft["id"], "draft", None)]
    bad = await client.get("/v1/campaigns", params={"state": "sent"}, headers=marketer.headers)
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "state"
    assert "status" not in draft and "status_reason" not in draft


async def test_openapi_lists_each_vocabulary_once(client):
    """The schemas and filters name the enums (one definition each), with exactly their values."""
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    for enum in (CampaignState, SenderState, MessageState, AlertState, SubscriptionState, Role, ConsentSource,
                 SenderKind):
        assert schemas[enum.__name__]["enum"] == [member.value for member in enum]
    assert "unknown" in schemas["MessageState"]["enum"]
    assert schemas["CampaignOut"]["properties"]["state"] == {"$ref": "#/components/schemas/CampaignState"}
    assert "status" not in schemas["CampaignOut"]["properties"]
    filters = {p["name"]: p["schema"] for p in spec["paths"]["/v1/campaigns"]["get"]["parameters"]}
    assert "status" not in filters
    assert {"$ref": "#/components/schemas/CampaignState"} in filters["state"]["anyOf"]
