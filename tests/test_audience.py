"""Lists, subscribers, consent, imports, suppression and the inbound webhook (invariants 2, 3, 8, 9)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update

from app.audience import consent
from app.models import ConsentEvent, InboundMessage, OutboundText, Subscriber, Subscription
from tests.conftest import OWNED
from tests.twilio_signing import inbound

CONSENT = {"source": "web_form", "evidence": "https://acme.example/join (disclosure v3)",
           "consented_at": "2026-10-01T12:00:00Z", "ip": "203.0.113.7"}
PHONE = "+14155552671"


@pytest.fixture
async def sender_id(client, admin):
    created = await client.post("/v1/senders", json={"kind": "long_code", "address": OWNED[0], "label": "Main"},
                                headers=admin.headers)
    await client.post(f"/v1/senders/{created.json()['id']}/verify", headers=admin.headers)
    return created.json()["id"]


async def make_list(client, marketer, sender_id, opt_in="single", name="VIP"):
    response = await client.post("/v1/lists", json={"name": name, "opt_in": opt_in, "sender_id": sender_id},
                                 headers=marketer.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def add(client, marketer, list_id, phone=PHONE, **extra):
    return await client.post(f"/v1/lists/{list_id}/subscribers",
                             json={"phone": phone, "consent": CONSENT, **extra}, headers=marketer.headers)


async def test_add_subscriber_normalises_and_records_consent(client, marketer, sender_id):
    lst = await make_list(client, marketer, sender_id)
    response = await add(client, marketer, lst["id"], phone="(415) 555-2671", first_name="Ana",
                         attributes={"city": "Oakland"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["subscriber"]["phone"] == PHONE
    assert body["subscriber"]["time_zone"] == "America/Los_Angeles"
    assert body["subscription"]["state"] == "subscribed"
    detail = (await client.get(f"/v1/subscribers/{body['subscriber']['id']}", headers=marketer.headers)).json()
    [event] = detail["consent_history"]
    assert (event["kind"], event["channel"], event["evidence"], event["ip"]) == (
        "opt_in", "web_form", CONSENT["evidence"], "203.0.113.7")
    listed = (await client.get(f"/v1/lists/{lst['id']}", headers=marketer.headers)).json()
    assert listed["counts"] == {"pending": 0, "subscribed": 1, "unsubscribed": 0}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"phone": "not a phone", "consent": CONSENT}, "phone"),
        ({"phone": "+14155552671"}, "consent"),
        ({"phone": "+14155552671", "consent": {**CONSENT, "evidence": ""}}, "consent.evidence"),
        ({"phone": "+14155552671", "consent": {**CONSENT, "source": "telepathy"}}, "consent.source"),
        ({"phone": "+14155552671", "consent": {**CONSENT, "consented_at": "2026-10-01T12:00:00"}},
         "consent.consented_at"),
        ({"phone": "+18005550100", "consent": CONSENT}, "phone"),
        ({"phone": "+14155552671", "time_zone": "Mars/Olympus", "consent": CONSENT}, "time_zone"),
    ],
    ids=["garbage", "no-consent", "no-evidence", "bad-source", "naive-time", "toll-free", "bad-zone"],
)
async def test_bad_subscriber_input_is_422_naming_the_field(client, marketer, sender_id, payload, field):
    lst = await make_list(client, marketer, sender_id)
    response = await client.post(f"/v1/lists/{lst['id']}/subscribers", json=payload, headers=marketer.headers)
    assert response.status_code == 422, response.text
    assert field in [d["field"] for d in response.json()["error"]["details"]]


async def test_double_opt_in_stays_pending_until_yes(client, marketer, sender_id, session):
    lst = await make_list(client, marketer, sender_id, opt_in="double")
    added = (await add(client, marketer, lst["id"])).json()
    assert added["subscription"]["state"] == "pending"
    [text] = (await session.scalars(select(OutboundText))).all()
    assert text.to == PHONE and text.sender_id == sender_id
    for phrase in ("Reply YES to confirm", "Fineline Demo Co", "Msg & data rates may apply", "HELP", "STOP"):
        assert phrase in text.body
    assert not await consent.is_sendable(session, added["subscriber"]["id"], [lst["id"]])

    reply = await inbound(client, "SM" + "1" * 32, PHONE, "Yes")
    assert reply.status_code == 200
    assert "subscribed" in reply.text
    detail = (await client.get(f"/v1/subscribers/{added['subscriber']['id']}", headers=marketer.headers)).json()
    assert detail["subscriptions"][0]["state"] == "subscribed"
    assert [e["kind"] for e in detail["consent_history"]] == ["opt_in", "confirm"]
    assert detail["consent_history"][1]["inbound_sid"] == "SM" + "1" * 32
    assert await consent.is_sendable(session, added["subscriber"]["id"], [lst["id"]])


async def test_double_opt_in_list_needs_a_verified_sender(client, marketer, admin):
    response = await client.post("/v1/lists", json={"name": "X", "opt_in": "double"}, headers=marketer.headers)
    assert response.status_code == 422
    pending = await client.post("/v1/senders", json={"kind": "long_code", "address": OWNED[0], "label": "M"},
                                headers=admin.headers)
    response = await client.post("/v1/lists", json={"name": "X", "opt_in": "single", "sender_id": pending.json()["id"]},
                                 headers=marketer.headers)
    assert response.status_code == 422
    assert "verified company sender" in response.json()["error"]["message"]


async def test_stop_unsubscribes_from_every_list_and_is_stored_once(client, marketer, sender_id, session):
    first = await make_list(client, marketer, sender_id, name="A")
    second = await make_list(client, marketer, sender_id, name="B")
    sub_id = (await add(client, marketer, first["id"])).json()["subscriber"]["id"]
    await add(client, marketer, second["id"])
    assert await consent.is_sendable(session, sub_id, [first["id"], second["id"]])

    sid = "SM" + "2" * 32
    reply = await inbound(client, sid, PHONE, "  stop! ")
    assert reply.status_code == 200
    assert reply.text.count("<Message>") == 1
    assert "unsubscribed" in reply.text and "%" not in reply.text
    again = await inbound(client, sid, PHONE, "  stop! ")
    assert again.status_code == 200 and "<Message>" not in again.text

    assert await session.scalar(select(func.count()).select_from(InboundMessage)) == 1
    assert not await consent.is_sendable(session, sub_id, [first["id"]])
    assert not await consent.is_sendable(session, sub_id, [second["id"]])
    detail = (await client.get(f"/v1/subscribers/{sub_id}", headers=marketer.headers)).json()
    assert {s["state"] for s in detail["subscriptions"]} == {"unsubscribed"}
    assert [e["kind"] for e in detail["consent_history"]].count("opt_out") == 1
    assert detail["suppressed"] is True


async def test_natural_language_revocation_opts_out(client, marketer, sender_id, session):
    lst = await make_list(client, marketer, sender_id)
    sub_id = (await add(client, marketer, lst["id"])).json()["subscriber"]["id"]
    await inbound(client, "SM" + "3" * 32, PHONE, "please take me off your list")
    assert not await consent.is_sendable(session, sub_id, [lst["id"]])


async def test_start_opts_back_in_and_help_answers(client, marketer, sender_id, session):
    lst = await make_list(client, marketer, sender_id)
    sub_id = (await add(client, marketer, lst["id"])).json()["subscriber"]["id"]
    await inbound(client, "SM" + "4" * 32, PHONE, "STOP")
    back = await inbound(client, "SM" + "5" * 32, PHONE, "unstop")
    assert "resubscribed" in back.text
    assert await consent.is_sendable(session, sub_id, [lst["id"]])
    help_reply = await inbound(client, "SM" + "6" * 32, PHONE, "help")
    assert "support@example.com" in help_reply.text and "STOP" in help_reply.text
    other = await inbound(client, "SM" + "7" * 32, PHONE, "what time do you open?")
    assert "<Message>" not in other.text
    kinds = (await session.scalars(select(InboundMessage.classification).order_by(InboundMessage.id))).all()
    assert kinds == ["opt_out", "opt_in", "help", "reply"]


@pytest.mark.parametrize("signature", ["", "forged-signature", None], ids=["missing", "forged", "wrong-token"])
async def test_bad_signatures_are_403_and_store_nothing(client, session, signature):
    kwargs = {"token": "someone-elses-token"} if signature is None else {"signature": signature}
    response = await inbound(client, "SM" + "8" * 32, PHONE, "STOP", **kwargs)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "bad_signature"
    assert await session.scalar(select(func.count()).select_from(InboundMessage)) == 0
    assert await consent.active_suppression(session, PHONE) is None


async def test_signature_is_checked_against_the_public_url_not_the_host(client, session):
    from twilio.request_validator import RequestValidator

    params = {"MessageSid": "SM" + "9" * 32, "From": PHONE, "To": OWNED[0], "Body": "STOP"}
    own_host = RequestValidator("test-auth-token").compute_signature(
        "http://fineline.test/webhooks/twilio/inbound", params)
    response = await client.post("/webhooks/twilio/inbound", data=params, headers={"X-Twilio-Signature": own_host})
    assert response.status_code == 403


async def test_erasure_keeps_suppression_and_import_cannot_resubscribe(client, marketer, admin, sender_id, session):
    lst = await make_list(client, marketer, sender_id)
    sub_id = (await add(client, marketer, lst["id"], first_name="Ana", attributes={"city": "Oakland"})).json()[
        "subscriber"]["id"]
    erased = await client.delete(f"/v1/subscribers/{sub_id}", headers=admin.headers)
    assert erased.status_code == 200
    assert erased.json()["first_name"] is None and erased.json()["attributes"] == {}
    assert erased.json()["opted_out_at"] is not None

    csv_body = "phone,first_name,consent_source,consent_evidence,consented_at\n" \
               f"{PHONE},Ana,import,paper form 12,2026-09-01\n"
    report = (await client.post(f"/v1/lists/{lst['id']}/imports", content=csv_body,
                                headers={**marketer.headers, "content-type": "text/csv"})).json()
    assert report["accepted"] == 0
    assert report["rejected"][0]["reason"].startswith("opted out on 20")
    assert not await consent.is_sendable(session, sub_id, [lst["id"]])

    api_old = await add(client, marketer, lst["id"])
    assert api_old.status_code == 409 and "opted out on" in api_old.json()["error"]["message"]


async def test_new_consent_after_opt_out_lifts_suppression_for_that_list_only(client, marketer, sender_id, session):
    a = await make_list(client, marketer, sender_id, name="A")
    b = await make_list(client, marketer, sender_id, name="B")
    sub_id = (await add(client, marketer, a["id"])).json()["subscriber"]["id"]
    await add(client, marketer, b["id"])
    await inbound(client, "SM" + "a" * 32, PHONE, "STOP")
    fresh = {**CONSENT, "consented_at": "2099-01-01T00:00:00Z"}
    future = await client.post(f"/v1/lists/{a['id']}/subscribers", json={"phone": PHONE, "consent": fresh},
                               headers=marketer.headers)
    assert future.status_code == 422  # consent from the future is refused
    from datetime import UTC, datetime

    now = datetime.now(UTC).isoformat()  # after the STOP, not in the future
    response = await client.post(f"/v1/lists/{a['id']}/subscribers",
                                 json={"phone": PHONE, "consent": {**CONSENT, "consented_at": now}},
                                 headers=marketer.headers)
    assert response.status_code == 201, response.text
    assert await consent.is_sendable(session, sub_id, [a["id"]])
    assert not await consent.is_sendable(session, sub_id, [b["id"]])


def _csv(rows: list[list[str]], header=("phone", "first_name", "consent_source", "consent_evidence", "consented_at",
                                         "city")) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


async def test_csv_import_reports_each_rejected_row_and_reimport_changes_nothing(client, marketer, sender_id, session):
    lst = await make_list(client, marketer, sender_id)
    body = _csv([
        ["+14155552671", "Ana", "web_form", "https://acme.example/join", "2026-10-01T10:00:00Z", "Oakland"],
        ["415-555-2672", "Bo", "paper", "store sign-up sheet 4", "2026-10-02", "SF"],
        ["nonsense", "Cy", "web_form", "https://acme.example/join", "2026-10-01", ""],
        ["+14155552673", "Di", "web_form", "", "2026-10-01", ""],
        ["+14155552674", "Ed", "carrier pigeon", "x", "2026-10-01", ""],
        ["+14155552671", "Ana", "web_form", "https://acme.example/join", "2026-10-01T10:00:00Z", "Berkeley"],
        ["+14155552675", "=cmd|' /C calc'!A0", "web_form", "https://acme.example/join", "2026-10-01", ""],
    ])
    headers = {**marketer.headers, "content-type": "text/csv"}
    first = (await client.post(f"/v1/lists/{lst['id']}/imports", content=body, headers=headers)).json()
    assert (first["accepted"], first["created"], first["rejected_count"]) == (4, 3, 3)
    reasons = {r["row"]: r["reason"] for r in first["rejected"]}
    assert "cannot receive SMS" in reasons[4]
    assert "consent_evidence" in reasons[5]
    assert "consent_source" in reasons[6]
    ana = await session.scalar(select(Subscriber).where(Subscriber.phone == "+14155552671"))
    assert ana.attributes == {"city": "Berkeley"}  # the duplicate row merged into the first

    counts_before = [await session.scalar(select(func.count()).select_from(m)) for m in (Subscriber, ConsentEvent, Subscription)]
    second = (await client.post(f"/v1/lists/{lst['id']}/imports", content=body, headers=headers)).json()
    assert (second["created"], second["unchanged"]) == (0, 4)
    counts_after = [await session.scalar(select(func.count()).select_from(m)) for m in (Subscriber, ConsentEvent, Subscription)]
    assert counts_after == counts_before

    export = await client.get(f"/v1/lists/{lst['id']}/export", headers=marketer.headers)
    assert export.status_code == 200
    assert "=cmd" not in export.text.replace("'=cmd", "")
    assert "https://acme.example/join" in export.text and "store sign-up sheet 4" in export.text


async def test_import_without_required_columns_is_422_and_stores_nothing(client, marketer, sender_id, session):
    lst = await make_list(client, marketer, sender_id)
    response = await client.post(f"/v1/lists/{lst['id']}/imports", content="phone,first_name\n+14155552671,Ana\n",
                                 headers={**marketer.headers, "content-type": "text/csv"})
    assert response.status_code == 422
    assert "consent_source" in response.json()["error"]["message"]
    assert await session.scalar(select(func.count()).select_from(Subscriber)) == 0


async def test_json_import_uses_the_api_shape(client, marketer, sender_id):
    lst = await make_list(client, marketer, sender_id)
    rows = [{"phone": "+14155552671", "first_name": "Ana", "attributes": {"tier": "gold"}, "consent": CONSENT},
            {"phone": "+14155552672"}]
    report = (await client.post(f"/v1/lists/{lst['id']}/imports", content=json.dumps(rows),
                                headers={**marketer.headers, "content-type": "application/json"})).json()
    assert report["accepted"] == 1 and report["rejected"][0]["row"] == 2
    assert "consent" in report["rejected"][0]["reason"]


async def test_import_with_broken_encoding_rejects_only_the_bad_rows(client, marketer, sender_id):
    lst = await make_list(client, marketer, sender_id)
    good = b"+14155552671,Ana,web_form,https://acme.example/join,2026-10-01\n"
    bad = b"+14155552672,\xff\xfe\xfa,web_form,https://acme.example/join,2026-10-01\n"
    body = b"phone,first_name,consent_source,consent_evidence,consented_at\n" + good + bad
    report = (await client.post(f"/v1/lists/{lst['id']}/imports", content=body,
                                headers={**marketer.headers, "content-type": "text/csv"})).json()
    assert report["accepted"] == 1
    assert "UTF-8" in report["rejected"][0]["reason"]


async def test_roles_on_audience_routes(client, marketer, reviewer, ops, sender_id):
    lst = await make_list(client, marketer, sender_id)
    assert (await client.post("/v1/lists", json={"name": "x", "opt_in": "single"}, headers=ops.headers)).status_code == 403
    assert (await client.get("/v1/lists", headers=reviewer.headers)).status_code == 200
    assert (await add(client, reviewer, lst["id"])).status_code == 403
    sub = (await add(client, marketer, lst["id"])).json()["subscriber"]["id"]
    assert (await client.get(f"/v1/subscribers/{sub}", headers=ops.headers)).status_code == 200
    assert (await client.delete(f"/v1/subscribers/{sub}", headers=marketer.headers)).status_code == 403


async def test_worker_sends_confirmation_once_and_skips_opted_out(client, marketer, sender_id, db, provider):
    from app.dispatch import outbound

    lst = await make_list(client, marketer, sender_id, opt_in="double")
    await add(client, marketer, lst["id"])
    await add(client, marketer, lst["id"], phone="+14155552672")
    await inbound(client, "SM" + "c" * 32, "+14155552672", "STOP")
    counts = await outbound.send_queued(db, provider)
    assert counts == {"sent": 1, "skipped": 1, "failed": 0, "retry": 0}
    assert [m.to for m in provider.sent] == [PHONE]
    again = await outbound.send_queued(db, provider)
    assert again == {"sent": 0, "skipped": 0, "failed": 0, "retry": 0}
    assert len(provider.sent) == 1



async def _confirmations(session) -> list[OutboundText]:
    return list((await session.scalars(select(OutboundText).order_by(OutboundText.to)
                                       .execution_options(populate_existing=True))).all())


async def test_confirmations_take_send_slots_shared_with_campaigns(client, marketer, sender_id, db, provider, session):
    """Invariant 6 holds for confirmation texts: each leaves in its own slot on the sender's timeline,
    and while a campaign holds the sender's next slots a confirmation waits in the queue for its own."""
    from app.dispatch import outbound, throttle
    from app.models import Sender

    lst = await make_list(client, marketer, sender_id, opt_in="double")
    await add(client, marketer, lst["id"])
    await add(client, marketer, lst["id"], phone="+14155552672")
    mps = (await session.get(Sender, sender_id)).mps
    assert (await outbound.send_queued(db, provider))["sent"] == 2
    first, second = await _confirmations(session)
    assert {first.state, second.state} == {"sent"}
    slots = sorted([first.slot_at, second.slot_at])
    assert (slots[1] - slots[0]).total_seconds() == pytest.approx(throttle.interval(mps), abs=0.01)
    assert all(text.sent_at >= text.slot_at for text in (first, second))  # none left before its slot

    async with db.unit_of_work() as s:  # a campaign batch holds the sender's next slots, ten seconds of them
        await throttle.reserve(s, sender_id, mps, int(10 * mps / throttle.SPACING) + 1)
    await add(client, marketer, (await make_list(client, marketer, sender_id, opt_in="double", name="B"))["id"],
              phone="+14155552673")
    began = datetime.now(UTC)
    assert await outbound.send_queued(db, provider) == {"sent": 0, "skipped": 0, "failed": 0, "retry": 0}
    third = (await _confirmations(session))[2]
    assert third.state == "queued" and third.not_before == third.slot_at
    assert (third.not_before - began).total_seconds() > throttle.MAX_SLOT_WAIT
    assert len(provider.sent) == 2


async def test_confirmations_count_against_the_senders_daily_cap(client, marketer, sender_id, db, provider, session):
    from app.dispatch import outbound, throttle
    from app.models import Sender, SenderQuota

    await session.execute(update(Sender).where(Sender.id == sender_id).values(daily_cap=1))
    await session.commit()
    lst = await make_list(client, marketer, sender_id, opt_in="double")
    await add(client, marketer, lst["id"])
    await add(client, marketer, lst["id"], phone="+14155552672")
    now = datetime.now(UTC)
    assert (await outbound.send_queued(db, provider, now=now))["sent"] == 1
    sent, waiting = sorted(await _confirmations(session), key=lambda text: text.state != "sent")
    next_day = throttle.carrier_day(now)[1]
    assert sent.state == "sent" and waiting.state == "queued" and waiting.not_before == next_day
    assert "allows 1 messages a day" in waiting.error and "next carrier day" in waiting.error
    assert (await outbound.send_queued(db, provider, now=now))["sent"] == 0  # not due before the next day
    # The next carrier day it leaves, the note gone, and that day's count has it.
    assert (await outbound.send_queued(db, provider, now=next_day + timedelta(seconds=1)))["sent"] == 1
    waiting = next(text for text in await _confirmations(session) if text.id == waiting.id)
    assert waiting.state == "sent" and waiting.error is None and len(provider.sent) == 2
    used = (await session.scalars(select(SenderQuota.used).where(SenderQuota.sender_id == sender_id)
                                  .order_by(SenderQuota.day))).all()
    assert used == [1, 1]


async def test_old_consent_never_outlives_a_stop_even_after_a_lift(client, marketer, sender_id):
    from datetime import UTC, datetime

    a = await make_list(client, marketer, sender_id, name="A")
    b = await make_list(client, marketer, sender_id, name="B")
    await add(client, marketer, a["id"])
    await inbound(client, "SM" + "d" * 32, PHONE, "STOP")
    fresh = {**CONSENT, "consented_at": datetime.now(UTC).isoformat()}
    assert (await client.post(f"/v1/lists/{a['id']}/subscribers", json={"phone": PHONE, "consent": fresh},
                              headers=marketer.headers)).status_code == 201
    stale = await add(client, marketer, b["id"])  # consent dated before the STOP
    assert stale.status_code == 409 and "opted out on" in stale.json()["error"]["message"]


async def test_start_after_stop_keeps_an_unconfirmed_double_opt_in_pending(client, marketer, sender_id, session):
    lst = await make_list(client, marketer, sender_id, opt_in="double")
    sub_id = (await add(client, marketer, lst["id"])).json()["subscriber"]["id"]
    await inbound(client, "SM" + "e" * 32, PHONE, "STOP")
    await inbound(client, "SM" + "f" * 32, PHONE, "START")
    detail = (await client.get(f"/v1/subscribers/{sub_id}", headers=marketer.headers)).json()
    assert detail["subscriptions"][0]["state"] == "pending"
    assert not await consent.is_sendable(session, sub_id, [lst["id"]])


async def _confirmation_answered(client, marketer, sender_id, db, settings, httpx_mock, status: int,
                                 answer: dict) -> dict[str, int]:
    """One double opt-in confirmation queued, then sent by the worker to a Twilio answering ``answer``."""
    import re

    from app.dispatch import outbound
    from app.providers.twilio import TwilioProvider

    lst = await make_list(client, marketer, sender_id, opt_in="double")
    await add(client, marketer, lst["id"])
    httpx_mock.add_response(url=re.compile(r".*/Messages\.json$"), method="POST", status_code=status, json=answer)
    twilio = TwilioProvider(account_sid=settings.account_sid, auth_token="x", api_base="https://twilio.test",
                            transport="httpx")
    try:
        return await outbound.send_queued(db, twilio)
    finally:
        await twilio.aclose()


async def test_21610_on_a_confirmation_text_is_an_opt_out(client, marketer, sender_id, db, settings, httpx_mock):
    counts = await _confirmation_answered(client, marketer, sender_id, db, settings, httpx_mock, 400, {
        "code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400})
    assert counts["failed"] == 1
    async with db.session() as session:
        assert await consent.active_suppression(session, PHONE) is not None


async def test_a_throttled_confirmation_slows_its_sender_and_waits(client, marketer, sender_id, db, settings,
                                                                    httpx_mock, session):
    from app.dispatch import outbound, throttle
    from app.models import Sender, SenderRate

    began = datetime.now(UTC)
    counts = await _confirmation_answered(client, marketer, sender_id, db, settings, httpx_mock, 429, {
        "code": 20429, "message": "Too Many Requests", "status": 429})
    assert counts["retry"] == 1
    [confirmation] = await _confirmations(session)
    assert confirmation.state == "queued" and "retrying" in confirmation.error
    assert confirmation.not_before >= began + outbound.RETRY_AFTER  # not tried again at once
    # Every sender of the number is slowed down: its timeline moved a penalty past the slot the text used.
    mps = (await session.get(Sender, sender_id)).mps
    end = float(await session.scalar(select(SenderRate.next_at).where(SenderRate.sender_id == sender_id)))
    assert end >= confirmation.slot_at.timestamp() + throttle.interval(mps) + throttle.PENALTY_SECONDS - 0.05


async def test_a_bulk_import_leaves_statistics_for_the_launch_that_follows(client, marketer, sender_id, session):
    """Import, then send: on PostgreSQL a bulk import analyses what it wrote (issue 20), so the
    audience's materialisation is planned on what the lists hold now; a small one leaves them be."""
    lst = await make_list(client, marketer, sender_id)
    headers = {**marketer.headers, "content-type": "text/csv"}
    postgres = session.get_bind().dialect.name == "postgresql"

    async def analysed() -> int:
        return await session.scalar(text("SELECT count(*) FROM pg_stats WHERE tablename IN "
                                         "('subscriber', 'subscription')")) if postgres else 0

    few = _csv([[f"+1415628{i:04d}", "Ana", "web_form", "https://acme.example/join", "2026-10-01", ""]
                for i in range(10)])
    report = (await client.post(f"/v1/lists/{lst['id']}/imports", content=few, headers=headers)).json()
    assert report["created"] == 10 and await analysed() == 0
    many = _csv([[f"+1415629{i:04d}", "Bo", "web_form", "https://acme.example/join", "2026-10-01", ""]
                 for i in range(1000)])
    report = (await client.post(f"/v1/lists/{lst['id']}/imports", content=many, headers=headers)).json()
    assert report["created"] == 1000
    assert await session.scalar(select(func.count()).select_from(Subscription).where(
        Subscription.list_id == lst["id"])) == 1010
    if postgres:
        assert await analysed() > 0
        reltuples = await session.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'subscription'"))
        assert reltuples >= 1010
