"""The company inbox (issue 14): replies land in a conversation owned by the company, are routed to an
agent, and are answered through the same gate as a campaign."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.inbox import delivery
from app.inbox import replies as inbox_replies
from app.models import AuditEvent, Conversation, Reply, Suppression
from tests.conftest import OWNED
from tests.factories import make_user
from tests.twilio_signing import apply_callbacks, inbound, signed_post

CUSTOMER = "+14155552671"  # San Francisco
CONSENT = {"source": "web_form", "evidence": "https://acme.example/join", "consented_at": "2026-10-01T12:00:00Z"}


@pytest.fixture
async def sender(client, admin):
    created = await client.post("/v1/senders", json={"kind": "long_code", "address": OWNED[0], "label": "Main"},
                                headers=admin.headers)
    verified = await client.post(f"/v1/senders/{created.json()['id']}/verify", headers=admin.headers)
    assert verified.json()["state"] == "verified"
    return verified.json()


@pytest.fixture
async def agent(db):
    async with db.unit_of_work() as session:
        return await make_user(session, roles=["agent"], email="ana@example.com", name="Ana")


@pytest.fixture
async def agent2(db):
    async with db.unit_of_work() as session:
        return await make_user(session, roles=["agent"], email="ben@example.com", name="Ben")


async def available(client, *agents):
    for who in agents:
        response = await client.put("/v1/me/availability", json={"available": True}, headers=who.headers)
        assert response.status_code == 200, response.text


_sids = iter(range(10**6))


async def customer_says(client, body, phone=CUSTOMER, **params):
    sid = f"SM{next(_sids):032d}"
    if params:
        base = {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "1" * 32, "From": phone,
                "To": OWNED[0], "Body": body, **params}
        response = await signed_post(client, "/webhooks/twilio/inbound", base)
    else:
        response = await inbound(client, sid, phone, body)
    assert response.status_code == 200, response.text
    return response


async def the_conversation(client, who, phone=CUSTOMER) -> dict:
    listed = await client.get("/v1/conversations", headers=who.headers)
    assert listed.status_code == 200, listed.text
    matching = [c for c in listed.json()["items"] if c["phone"] == phone]
    assert len(matching) == 1, listed.json()
    return matching[0]


async def subscribe(client, marketer, sender, phone=CUSTOMER):
    lst = (await client.post("/v1/lists", json={"name": "VIP", "opt_in": "single", "sender_id": sender["id"]},
                             headers=marketer.headers)).json()
    added = await client.post(f"/v1/lists/{lst['id']}/subscribers", json={"phone": phone, "consent": CONSENT},
                              headers=marketer.headers)
    assert added.status_code == 201, added.text


async def age_last_inbound(session, conversation_id, hours):
    await session.execute(update(Conversation).where(Conversation.id == conversation_id).values(
        last_inbound_at=datetime.now(UTC) - timedelta(hours=hours)))
    await session.commit()


# --- conversations open, route and move -----------------------------------------------------------

async def test_a_customer_reply_opens_a_conversation_routed_to_an_available_agent(client, sender, agent, admin,
                                                                                  session):
    await available(client, agent)
    await customer_says(client, "do you have it in blue?", NumMedia="1",
                        MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
                        MediaContentType0="image/jpeg")
    conversation = await the_conversation(client, agent)
    assert conversation["state"] == "open" and conversation["assignee_id"] == agent.id
    assert conversation["sender_id"] == sender["id"] and conversation["waiting_since"] is not None
    detail = (await client.get(f"/v1/conversations/{conversation['id']}", headers=agent.headers)).json()
    [message] = detail["messages"]
    assert message["kind"] == "inbound" and message["body"] == "do you have it in blue?"
    assert message["media"] == [{"url": "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
                                 "content_type": "image/jpeg"}]
    actions = (await session.scalars(select(AuditEvent.action).where(
        AuditEvent.target_id == conversation["id"]))).all()
    assert "conversation.opened" in actions and "conversation.assigned" in actions


async def test_keywords_act_as_before_and_open_nothing(client, sender, agent, session):
    for word in ("STOP", "START", "HELP"):
        reply = await customer_says(client, word)
        assert "<Message>" in reply.text
    assert (await session.scalars(select(Conversation))).all() == []


async def test_a_yes_with_nothing_to_confirm_is_a_reply_in_the_inbox(client, sender, agent, session):
    await available(client, agent)
    answer = await customer_says(client, "Yes")
    assert "<Message>" not in answer.text  # no keyword answer: a person will reply
    conversation = await the_conversation(client, agent)
    thread = (await client.get(f"/v1/conversations/{conversation['id']}", headers=agent.headers)).json()
    assert [(m["body"], m["classification"]) for m in thread["messages"]] == [("Yes", "confirm")]


async def test_an_opt_out_in_plain_words_inside_a_conversation_is_an_opt_out(client, sender, agent, session):
    await available(client, agent)
    await customer_says(client, "what time do you open?")
    await customer_says(client, "actually please stop texting me")
    assert (await session.get(Suppression, CUSTOMER)).lifted_at is None
    conversation = await the_conversation(client, agent)
    refused = await client.post(f"/v1/conversations/{conversation['id']}/messages", json={"body": "We open at 9."},
                                headers=agent.headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "opted_out"
    thread = (await client.get(f"/v1/conversations/{conversation['id']}", headers=agent.headers)).json()
    assert thread["opted_out"] is True
    assert [m["classification"] for m in thread["messages"]] == ["reply", "opt_out"]


async def test_nobody_available_leaves_it_in_the_queue_then_round_robin(client, sender, agent, agent2, session):
    await customer_says(client, "hello?", phone="+14155552672")
    assert (await the_conversation(client, agent, "+14155552672"))["assignee_id"] is None
    await available(client, agent, agent2)
    await customer_says(client, "first", phone="+14155552673")
    await customer_says(client, "second", phone="+14155552674")
    assignees = {(await the_conversation(client, agent, phone))["assignee_id"]
                 for phone in ("+14155552673", "+14155552674")}
    assert assignees == {agent.id, agent2.id}


async def test_resolved_reopens_to_the_last_assignee_or_is_routed_when_they_left(client, sender, agent, agent2,
                                                                                   admin):
    await available(client, agent)
    await customer_says(client, "hi")
    conversation = await the_conversation(client, agent)
    resolved = await client.post(f"/v1/conversations/{conversation['id']}/resolve", headers=agent.headers)
    assert resolved.json()["state"] == "resolved"
    await available(client, agent2)
    await customer_says(client, "me again")
    again = await the_conversation(client, agent)
    assert again["state"] == "open" and again["assignee_id"] == agent.id  # back to Ana, though Ben is available

    await client.post(f"/v1/conversations/{conversation['id']}/resolve", headers=agent.headers)
    await client.put("/v1/me/availability", json={"available": False}, headers=agent2.headers)
    offboarded = await client.post(f"/v1/users/{agent.id}/offboard", headers=admin.headers)
    assert offboarded.status_code == 200, offboarded.text
    assert (await the_conversation(client, agent2))["assignee_id"] is None  # handed to the queue
    await available(client, agent2)
    await customer_says(client, "anyone there?")
    assert (await the_conversation(client, agent2))["assignee_id"] == agent2.id


async def test_snoozed_wakes_on_a_new_message_and_when_its_time_comes(client, sender, agent, db, provider, settings):
    await available(client, agent)
    await customer_says(client, "call me next week")
    conversation = await the_conversation(client, agent)
    until = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    snoozed = await client.post(f"/v1/conversations/{conversation['id']}/snooze", json={"until": until},
                                headers=agent.headers)
    assert snoozed.json()["state"] == "snoozed"
    await customer_says(client, "actually, today?")
    assert (await the_conversation(client, agent))["state"] == "open"

    await client.post(f"/v1/conversations/{conversation['id']}/snooze", json={"until": until}, headers=agent.headers)
    counts = await delivery.send_due(db, provider, settings, now=datetime.now(UTC) + timedelta(days=8))
    assert counts["woken"] == 1 and (await the_conversation(client, agent))["state"] == "open"
    bad = await client.post(f"/v1/conversations/{conversation['id']}/snooze", json={"until": "tomorrow"},
                            headers=agent.headers)
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "until"


async def test_taking_and_reassigning(client, sender, agent, agent2, ops, marketer):
    await customer_says(client, "hello")
    conversation = await the_conversation(client, agent)
    path = f"/v1/conversations/{conversation['id']}"
    assert (await client.post(f"{path}/assign", json={"user_id": agent2.id}, headers=agent.headers)).status_code == 403
    taken = await client.post(f"{path}/assign", json={"user_id": agent.id}, headers=agent.headers)
    assert taken.status_code == 200 and taken.json()["assignee_id"] == agent.id
    theirs = await client.post(f"{path}/assign", json={"user_id": agent2.id}, headers=agent2.headers)
    assert theirs.status_code == 403 and "another agent" in theirs.json()["error"]["message"]
    assert (await client.post(f"{path}/resolve", headers=agent2.headers)).status_code == 403
    moved = await client.post(f"{path}/assign", json={"user_id": agent2.id}, headers=ops.headers)
    assert moved.json()["assignee_id"] == agent2.id
    not_agent = await client.post(f"{path}/assign", json={"user_id": marketer.id}, headers=ops.headers)
    assert not_agent.status_code == 422 and not_agent.json()["error"]["details"][0]["field"] == "user_id"
    # marketers read, never act
    assert (await client.get(path, headers=marketer.headers)).status_code == 200
    assert (await client.post(f"{path}/messages", json={"body": "hi"}, headers=marketer.headers)).status_code == 403
    assert (await client.get("/v1/conversations/cnv_nope", headers=agent.headers)).status_code == 404


async def test_listing_is_newest_activity_first_in_keyset_pages(client, sender, agent, agent2):
    await available(client, agent)
    phones = [f"+1415555{2680 + i}" for i in range(5)]
    for phone in phones:
        await customer_says(client, "hi", phone=phone)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, "state": "open", "assignee": "me"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/conversations", params=params, headers=agent.headers)).json()
        seen += [c["phone"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(phones))
    none = await client.get("/v1/conversations", params={"assignee": "none"}, headers=agent.headers)
    assert none.json()["items"] == []
    bad = await client.get("/v1/conversations", params={"cursor": "garbage"}, headers=agent.headers)
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "cursor"


# --- replies through the gate ---------------------------------------------------------------------

async def test_a_reply_leaves_from_the_company_sender_and_tracks_delivery(client, sender, agent, provider,
                                                                            session, db, settings):
    await available(client, agent)
    await customer_says(client, "do you have it in blue?")
    conversation = await the_conversation(client, agent)
    sent = await client.post(f"/v1/conversations/{conversation['id']}/messages",
                             json={"body": "Yes, we have it in blue in every size."}, headers=agent.headers)
    assert sent.status_code == 201, sent.text
    reply = sent.json()
    assert reply["state"] == "sent" and reply["author_id"] == agent.id and reply["findings"] == []
    [out] = provider.sent
    assert out.from_ == sender["address"] and out.to == CUSTOMER and out.sid == reply["provider_sid"]
    for status in ("sent", "delivered"):
        callback = await signed_post(client, f"/webhooks/twilio/status?r={reply['id']}",
                                     {"MessageSid": out.sid, "MessageStatus": status})
        assert callback.status_code == 204
    assert await apply_callbacks(db, settings) == 2  # the worker's applier, as in production
    stored = await session.get(Reply, reply["id"], populate_existing=True)
    assert stored.state == "delivered" and stored.delivered_at is not None
    assert (await the_conversation(client, agent))["waiting_since"] is None


async def test_bad_reply_bodies_are_422_naming_the_field(client, sender, agent):
    await available(client, agent)
    await customer_says(client, "hi")
    conversation = await the_conversation(client, agent)
    path = f"/v1/conversations/{conversation['id']}/messages"
    for body in ("", "   ", "ж" * 700, "x" * 1601):
        response = await client.post(path, json={"body": body}, headers=agent.headers)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["details"][0]["field"] == "body"


async def test_consent_window_then_active_consent_then_refusal(client, sender, agent, marketer, session):
    await available(client, agent)
    await customer_says(client, "is the sale still on?")
    conversation = await the_conversation(client, agent)
    path = f"/v1/conversations/{conversation['id']}/messages"
    await age_last_inbound(session, conversation["id"], hours=23)
    inside = await client.post(path, json={"body": "Yes, until Sunday."}, headers=agent.headers)
    assert inside.status_code == 201, inside.text  # inside 24 h of their message

    await age_last_inbound(session, conversation["id"], hours=25)
    closed = await client.post(path, json={"body": "Still interested?"}, headers=agent.headers)
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "window_closed"
    assert "24 hours" in closed.json()["error"]["message"]

    await subscribe(client, marketer, sender)
    subscribed = await client.post(path, json={"body": "Still interested?"}, headers=agent.headers)
    assert subscribed.status_code == 201, subscribed.text  # a subscriber may be texted


async def test_starting_a_conversation_needs_active_consent(client, sender, agent, marketer, provider, settings):
    settings.quiet_hours = "off"  # whatever the hour in San Francisco while this runs
    start = {"sender_id": sender["id"], "phone": "(415) 555-2690", "body": "Your order is ready for pickup."}
    refused = await client.post("/v1/conversations", json=start, headers=agent.headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "no_consent"
    assert provider.sent == []
    await subscribe(client, marketer, sender, phone="+14155552690")
    started = await client.post("/v1/conversations", json=start, headers=agent.headers)
    assert started.status_code == 201, started.text
    assert started.json()["conversation"]["assignee_id"] == agent.id
    assert started.json()["reply"]["state"] == "sent" and provider.sent[0].to == "+14155552690"
    bad = await client.post("/v1/conversations", json={**start, "phone": "12"}, headers=agent.headers)
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "phone"


async def test_a_personal_reply_is_held_until_another_reviewer_decides(client, sender, db, provider):
    async with db.unit_of_work() as s:
        author = await make_user(s, roles=["agent", "reviewer"], email="cara@example.com")
        other = await make_user(s, roles=["reviewer"], email="dan@example.com")
    await available(client, author)
    await customer_says(client, "can someone call me?")
    conversation = await the_conversation(client, author)
    held = await client.post(f"/v1/conversations/{conversation['id']}/messages",
                             json={"body": "Sure! Text me on my cell 415-555-0199 or WhatsApp me"},
                             headers=author.headers)
    assert held.status_code == 202, held.text
    reply = held.json()
    assert reply["state"] == "held" and provider.sent == []
    assert {f["code"] for f in reply["findings"]} >= {"personal_contact", "personal_channel"}
    own = await client.post(f"/v1/replies/{reply['id']}/approve", headers=author.headers)
    assert own.status_code == 403 and "author" in own.json()["error"]["message"]
    queue = (await client.get("/v1/replies", params={"state": "held"}, headers=other.headers)).json()
    assert [r["id"] for r in queue["items"]] == [reply["id"]]
    approved = await client.post(f"/v1/replies/{reply['id']}/approve", json={"comment": "it is the store line"},
                                 headers=other.headers)
    assert approved.status_code == 200 and approved.json()["state"] == "sent"
    assert approved.json()["reviewer_id"] == other.id and len(provider.sent) == 1
    again = await client.post(f"/v1/replies/{reply['id']}/reject", headers=other.headers)
    assert again.status_code == 409


async def test_a_rejected_reply_never_leaves_and_the_author_sees_why(client, sender, agent, reviewer, provider):
    await available(client, agent)
    await customer_says(client, "thanks!")
    conversation = await the_conversation(client, agent)
    held = (await client.post(f"/v1/conversations/{conversation['id']}/messages",
                              json={"body": "love you babe xx"}, headers=agent.headers)).json()
    assert held["findings"][0]["code"] == "oops_personal"
    rejected = await client.post(f"/v1/replies/{held['id']}/reject", json={"comment": "wrong chat"},
                                 headers=reviewer.headers)
    assert rejected.json()["state"] == "rejected"
    detail = (await client.get(f"/v1/conversations/{conversation['id']}", headers=agent.headers)).json()
    mine = [m["reply"] for m in detail["messages"] if m["kind"] == "reply"]
    assert mine[0]["review_comment"] == "wrong chat" and mine[0]["findings"][0]["code"] == "oops_personal"
    assert provider.sent == []


# --- quiet hours ----------------------------------------------------------------------------------

async def test_replies_in_quiet_hours_wait_for_the_window_unless_the_customer_is_texting(client, sender, agent,
                                                                                           session, settings):
    await available(client, agent)
    await customer_says(client, "are you open tomorrow?")
    conversation = await session.get(Conversation, (await the_conversation(client, agent))["id"])
    user = agent.user
    late = datetime(2026, 12, 4, 7, 0, tzinfo=UTC)  # 23:00 in San Francisco
    conversation.last_inbound_at = late - timedelta(minutes=10)
    texting = await inbox_replies.reply(session, conversation, author=user, body="Yes, from 9.", settings=settings,
                                        now=late)
    assert texting.state == "queued" and texting.not_before == late  # they are texting: it goes now

    conversation.last_inbound_at = late - timedelta(hours=2)
    later = await inbox_replies.reply(session, conversation, author=user, body="See you then.", settings=settings,
                                      now=late)
    assert later.state == "scheduled"
    assert later.not_before == datetime(2026, 12, 4, 16, 0, tzinfo=UTC)  # 08:00 in San Francisco


async def test_a_scheduled_reply_goes_out_when_its_window_opens(client, sender, agent, session, settings, db,
                                                                 provider):
    await available(client, agent)
    await customer_says(client, "ok")
    conversation = await session.get(Conversation, (await the_conversation(client, agent))["id"])
    late = datetime(2026, 12, 4, 7, 0, tzinfo=UTC)  # 23:00 in San Francisco
    conversation.last_inbound_at = late - timedelta(hours=3)
    scheduled = await inbox_replies.write(session, conversation, author=agent.user, body="Good morning!",
                                          purpose="reply", settings=settings, now=late)
    await session.commit()
    assert scheduled.state == "scheduled"
    assert (await delivery.send_due(db, provider, settings, now=late + timedelta(hours=1)))["sent"] == 0
    assert provider.sent == []
    counts = await delivery.send_due(db, provider, settings, now=scheduled.not_before + timedelta(seconds=1))
    assert counts["sent"] == 1 and provider.sent[0].body == "Good morning!"


# --- provider errors ------------------------------------------------------------------------------

async def sender_timeline_end(session, sender_id: str) -> float:
    """Where the sender's send slots end (``sender_rate.next_at``, seconds since the epoch)."""
    from app.models import SenderRate

    return float(await session.scalar(select(SenderRate.next_at).where(SenderRate.sender_id == sender_id)
                                      .execution_options(populate_existing=True)))


class Failing:
    """A provider whose sends fail with ``error``; everything else is the sandbox's."""

    def __init__(self, inner, error):
        self.inner, self.error = inner, error

    async def send(self, sender, *, to, body, status_callback=None):
        from app.providers.base import ensure_sendable

        ensure_sendable(sender)
        raise self.error

    def __getattr__(self, name):
        return getattr(self.inner, name)


async def _queued_reply(client, agent, session, settings):
    await available(client, agent)
    await customer_says(client, "hi")
    conversation = await session.get(Conversation, (await the_conversation(client, agent))["id"])
    reply = await inbox_replies.reply(session, conversation, author=agent.user, body="Hello!", settings=settings)
    await session.commit()
    return reply


async def test_a_definite_refusal_is_shown_on_the_reply_and_not_retried(client, sender, agent, session, settings,
                                                                          db, provider):
    from app.providers.errors import ProviderRejected

    reply = await _queued_reply(client, agent, session, settings)
    failing = Failing(provider, ProviderRejected("Message body is invalid", code=21602, status=400))
    assert await delivery.send(db, failing, settings, reply.id) == "failed"
    await session.refresh(reply)
    assert reply.error_code == 21602 and "invalid" in reply.error
    assert (await delivery.send_due(db, provider, settings))["sent"] == 0 and provider.sent == []


async def test_a_throttled_send_is_retried_and_an_unknown_one_reconciled(client, sender, agent, session, settings,
                                                                         db, provider):
    from app.dispatch import throttle
    from app.providers.errors import ProviderThrottled, ProviderUnknownOutcome

    reply = await _queued_reply(client, agent, session, settings)
    throttled = Failing(provider, ProviderThrottled("Too Many Requests", code=20429, status=429))
    assert await delivery.send(db, throttled, settings, reply.id) == "queued"
    await session.refresh(reply)
    assert reply.not_before is not None and "retrying" in reply.error
    # The sender is slowed down for campaigns and replies alike: its timeline moved a penalty past the slot.
    assert await sender_timeline_end(session, sender["id"]) >= (
        reply.slot_at.timestamp() + throttle.interval(sender["mps"]) + throttle.PENALTY_SECONDS - 0.05)

    later = reply.not_before + timedelta(seconds=1)
    unknown = Failing(provider, ProviderUnknownOutcome("503 Service Unavailable", status=503))
    assert await delivery.send(db, unknown, settings, reply.id, now=later) == "unknown"
    # Not found at the provider: it never left, so it is queued again, then sent once.
    counts = await delivery.reconcile(db, provider, settings, now=later)
    assert counts["requeued"] == 1
    assert await delivery.send(db, provider, settings, reply.id, now=later) == "sent"
    assert len(provider.sent) == 1


async def test_an_unknown_send_found_at_the_provider_is_not_resent(client, sender, agent, session, settings, db,
                                                                  provider):
    reply = await _queued_reply(client, agent, session, settings)
    assert await delivery.send(db, provider, settings, reply.id) == "sent"
    await session.execute(update(Reply).where(Reply.id == reply.id).values(state="unknown", provider_sid=None))
    await session.commit()
    counts = await delivery.reconcile(db, provider, settings, now=datetime.now(UTC))
    assert counts["found_sent"] == 1 and len(provider.sent) == 1
    await session.refresh(reply)
    assert reply.state == "sent" and reply.provider_sid == provider.sent[0].sid


# --- offboarding and the out-of-hours answer -----------------------------------------------------

async def test_offboarding_hands_conversations_to_a_successor_with_a_handover_text(client, sender, agent, agent2,
                                                                                   admin, provider, session):
    await available(client, agent)
    await customer_says(client, "is my order ready?")
    conversation = await the_conversation(client, agent)
    answered = await client.post(f"/v1/conversations/{conversation['id']}/messages",
                                 json={"body": "Tomorrow morning."}, headers=agent.headers)
    assert answered.status_code == 201
    not_an_agent = await client.post(f"/v1/users/{agent.id}/offboard", json={"successor_id": admin.id},
                                     headers=admin.headers)
    assert not_an_agent.status_code == 422 and not_an_agent.json()["error"]["details"][0]["field"] == "successor_id"
    offboarded = await client.post(f"/v1/users/{agent.id}/offboard", headers=admin.headers, json={
        "successor_id": agent2.id, "handover_text": "Ana has moved on; Ben will look after you from now on."})
    assert offboarded.status_code == 200, offboarded.text
    handed = offboarded.json()["handed_back"]
    assert handed["conversations"] == [{"id": conversation["id"], "assignee_id": agent2.id, "state": "open"}]
    assert handed["handover_texts"][0]["state"] == "queued"
    detail = (await client.get(f"/v1/conversations/{conversation['id']}", headers=agent2.headers)).json()
    assert [m["kind"] for m in detail["messages"]] == ["inbound", "reply", "reply"]  # history kept
    assert detail["messages"][1]["reply"]["author_id"] == agent.id
    assert (await client.get("/v1/me", headers=agent.headers)).status_code == 401


async def test_outside_business_hours_one_auto_reply_a_day(client, sender, agent, session, settings, db, provider):
    from app.inbox import service

    async def text(sid, body, now):  # as the inbound webhook does
        conversation = await service.on_inbound(session, sid=sid, phone=CUSTOMER, body=body, params=params,
                                                settings=settings, now=now)
        await inbox_replies.queue_auto_reply(session, conversation, settings=settings, now=now)
        return conversation

    settings.business_hours, settings.business_time_zone = "09:00-17:00", "America/Los_Angeles"
    night = datetime(2026, 12, 4, 7, 0, tzinfo=UTC)  # Thursday 23:00 in Los Angeles
    params = {"To": OWNED[0]}
    first = await text("SMx1", "hello?", night)
    await text("SMx2", "anyone?", night + timedelta(minutes=5))
    await session.commit()
    autos = (await session.scalars(select(Reply).where(Reply.conversation_id == first.id))).all()
    assert [(r.purpose, r.author_id) for r in autos] == [("auto_reply", None)]
    assert await delivery.send(db, provider, settings, autos[0].id, now=night + timedelta(minutes=6)) == "sent"
    next_night = night + timedelta(days=1)
    await text("SMx3", "still there?", next_night)
    day = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)  # 10:00 in Los Angeles
    await text("SMx4", "good morning", day)
    autos = (await session.scalars(select(Reply).where(Reply.conversation_id == first.id))).all()
    assert len(autos) == 2


async def test_inbox_stats(client, sender, agent, agent2):
    await customer_says(client, "waiting here", phone="+14155552691")
    await available(client, agent)
    await customer_says(client, "hi", phone="+14155552692")
    mine = await the_conversation(client, agent, "+14155552692")
    await client.post(f"/v1/conversations/{mine['id']}/messages", json={"body": "Hi! How can we help?"},
                      headers=agent.headers)
    await client.post(f"/v1/conversations/{mine['id']}/resolve", headers=agent.headers)
    stats = (await client.get("/v1/inbox/stats", headers=agent2.headers)).json()
    assert stats["open"] == 1 and stats["unassigned"] == 1 and stats["oldest_waiting_seconds"] >= 0
    assert stats["median_first_response_seconds"] >= 0 and stats["median_resolution_seconds"] >= 0


async def test_the_thread_shows_the_campaign_messages_the_customer_got(client, admin, marketer, reviewer, agent,
                                                                       session):
    from app.models import Message
    from tests import dispatch_world

    world = await dispatch_world.build(client, admin, marketer, reviewer, phones=[CUSTOMER])
    await session.execute(update(Message).values(state="delivered", sent_at=datetime.now(UTC) - timedelta(hours=1),
                                                 provider_sid="SM" + "c" * 32))
    await session.commit()
    await available(client, agent)
    await customer_says(client, "do you have it in blue?")
    conversation = await the_conversation(client, agent)
    assert conversation["sender_id"] == world["sender"]["id"]
    thread = (await client.get(f"/v1/conversations/{conversation['id']}", headers=agent.headers)).json()["messages"]
    assert [m["kind"] for m in thread] == ["campaign", "inbound"]
    assert thread[0]["body"] == "Fineline Demo Co: Hi Ana, fall sale today. Reply STOP to opt out."
    assert thread[0]["campaign_id"] == world["campaign"]["id"] and thread[0]["state"] == "delivered"


async def test_replies_keep_the_senders_rate_shared_with_campaigns(client, sender, agent, session, settings, db,
                                                                   provider):
    from app.dispatch import throttle

    reply = await _queued_reply(client, agent, session, settings)
    conversation = await session.get(Conversation, reply.conversation_id)
    second = await inbox_replies.reply(session, conversation, author=agent.user, body="We also have it in navy, size M.", settings=settings)
    await session.commit()
    from app.models import Sender

    gap = throttle.interval((await session.get(Sender, sender["id"], populate_existing=True)).mps)
    began = datetime.now(UTC)
    assert await delivery.send(db, provider, settings, reply.id) == "sent"
    outcome = await delivery.send(db, provider, settings, second.id)
    await session.refresh(second)
    if outcome == "sent":  # it waited for its slot, one interval after the first
        assert (datetime.now(UTC) - began).total_seconds() >= gap * 0.9
    else:  # its slot is further off than a request waits: queued for it
        assert second.state == "queued" and (second.not_before - began).total_seconds() >= gap * 0.9

    async with db.unit_of_work() as s:  # a campaign batch holds the sender's next ten slots
        await throttle.reserve(s, sender["id"], sender["mps"], 10)
    third = await inbox_replies.reply(session, conversation, author=agent.user, body="Your order ships on Monday.", settings=settings)
    await session.commit()
    assert await delivery.send(db, provider, settings, third.id) is None  # waits in the queue, not in a request
    await session.refresh(third)
    assert third.state == "queued" and third.not_before > datetime.now(UTC) + timedelta(seconds=5)
    assert len(provider.sent) == (2 if outcome == "sent" else 1)


async def test_replies_count_against_the_senders_daily_carrier_cap(client, sender, agent, session, settings, db,
                                                                   provider):
    from app.dispatch import throttle
    from app.models import Sender

    await session.execute(update(Sender).where(Sender.id == sender["id"]).values(daily_cap=1))
    await session.commit()
    reply = await _queued_reply(client, agent, session, settings)
    conversation = await session.get(Conversation, reply.conversation_id)
    second = await inbox_replies.reply(session, conversation, author=agent.user, body="Your order ships on Monday.",
                                       settings=settings)
    await session.commit()
    now = datetime.now(UTC)
    assert await delivery.send(db, provider, settings, reply.id, now=now) == "sent"
    # The day's one message is used: the second reply waits for the next carrier day, saying why.
    assert await delivery.send(db, provider, settings, second.id, now=now) is None
    await session.refresh(second)
    next_day = throttle.carrier_day(now)[1]
    assert second.state == "queued" and second.not_before == next_day
    assert "1 messages a day" in second.error and len(provider.sent) == 1
    assert (await delivery.send_due(db, provider, settings, now=now))["sent"] == 0
    # The next carrier day it leaves (the customer is texting then, so no quiet hours), and the note is gone.
    await session.execute(update(Conversation).where(Conversation.id == conversation.id)
                          .values(last_inbound_at=next_day))
    await session.commit()
    assert await delivery.send(db, provider, settings, second.id, now=next_day + timedelta(seconds=1)) == "sent"
    await session.refresh(second)
    assert second.error is None and len(provider.sent) == 2
