"""The campaign report (issue 19, part 2): every number equals a count over the per-message rows, and the
CSV export is the messages, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, insert, select, update

from app.alerts import policy
from app.db.base import utcnow
from app.dispatch import canary
from app.models import Campaign, InboundMessage, Link, LinkClick, Message, Subscriber
from app.reports import export, service
from tests.conftest import OWNED
from tests.dispatch_world import build, drain
from tests.factories import make_user
from tests.twilio_signing import apply_callbacks, inbound, signed_post

PHONES = [f"+1415555{2700 + i:04d}" for i in range(16)]
SENT = ("sent", "delivered", "undelivered")
FAILED = ("failed", "undelivered")


def status(client, sid, value, **extra):
    params = {"MessageSid": sid, "MessageStatus": value, "AccountSid": "AC" + "1" * 32, **extra}
    return signed_post(client, "/webhooks/twilio/status", params)


def minute(at) -> int:
    return int(at.timestamp()) // 60


async def _launch_with_canary(client, marketer, reviewer, cid):
    await client.patch(f"/v1/campaigns/{cid}", json={"rollout": {"first_slice_percent": 50, "observe_minutes": 1}},
                       headers=marketer.headers)
    await client.post(f"/v1/campaigns/{cid}/submit", headers=marketer.headers)
    await client.post(f"/v1/campaigns/{cid}/review", json={"decision": "approve", "comment": "ok"},
                      headers=reviewer.headers)
    launched = await client.post(f"/v1/campaigns/{cid}/launch", headers=marketer.headers)
    assert launched.json()["state"] == "sending", launched.text


@pytest.fixture
async def mixed(client, admin, marketer, reviewer, db, provider, settings, session):
    """A canary campaign with a known mix, made through the real paths: skips of two kinds, a first
    slice then the rest, delivered, failed with two error codes, opt-outs and replies."""
    world = await build(client, admin, marketer, reviewer, phones=PHONES, launch=False)
    cid = world["campaign"]["id"]
    await _launch_with_canary(client, marketer, reviewer, cid)
    await inbound(client, "SM" + "a" * 32, PHONES[0], "STOP")  # before any send: skipped, not attributed
    await session.execute(update(Subscriber).where(Subscriber.id == world["subscribers"][PHONES[1]])
                          .values(first_name="Bob"))  # a value nobody reviewed: skipped at send time
    await session.commit()

    assert await drain(db, provider, settings) > 0  # the first slice only
    last = await session.scalar(select(func.max(Message.sent_at)).where(Message.campaign_id == cid))
    assert (await canary.judge_canaries(db, settings, now=last + timedelta(minutes=2)))["released"] == [cid]
    await drain(db, provider, settings)

    sent = (await session.scalars(select(Message).where(Message.campaign_id == cid, Message.state == "sent")
                                  .order_by(Message.id))).all()
    assert len(sent) == len(PHONES) - 2
    outcomes = [("undelivered", "30007"), ("undelivered", "30007"), ("failed", "30003")]
    for message, (value, code) in zip(sent, outcomes, strict=False):
        assert (await status(client, message.provider_sid, value, ErrorCode=code)).status_code == 204
    for message in sent[len(outcomes):]:
        assert (await status(client, message.provider_sid, "delivered")).status_code == 204
    await apply_callbacks(db, settings)

    delivered = [m.to for m in sent[len(outcomes):]]
    for index, phone in enumerate(delivered[:2]):  # two opt-outs, attributed to these messages
        await inbound(client, f"SM{index:032d}", phone, "STOP")
    await inbound(client, "SM" + "b" * 32, delivered[2], "Is the sale on in the Oakland store too?")
    await inbound(client, "SM" + "c" * 32, delivered[2], "And on Sunday?")  # one person, one reply
    await inbound(client, "SM" + "d" * 32, delivered[3], "thanks!")
    await inbound(client, "SM" + "e" * 32, delivered[4], "HELP")  # a keyword: not a reply
    await inbound(client, "SM" + "f" * 32, "+14155559999", "who is this?")  # not a recipient

    # Tracked-link clicks as the redirect route writes them (app.links, issue 19 part 1): one person
    # twice, another once, and a link previewer on a third message, which is not a person.
    by_phone = {m.to: m for m in sent}
    clicks = [(delivered[5], "human"), (delivered[5], "human"), (delivered[6], "human"), (delivered[7], "bot")]
    for index, (phone, kind) in enumerate(clicks):
        m = by_phone[phone]
        token = f"tok{index:029d}"
        session.add(Link(token=token, campaign_id=cid, message_id=m.id, subscriber_id=m.subscriber_id, position=0,
                         destination="https://acme.example/sale", expires_at=utcnow() + timedelta(days=30)))
        await session.flush()
        session.add(LinkClick(token=token, campaign_id=cid, message_id=m.id, subscriber_id=m.subscriber_id,
                              position=0, clicked_at=utcnow(), kind=kind))
    await session.commit()
    session.expire_all()
    return {"cid": cid, "world": world, "replied": {delivered[2], delivered[3]},
            "clicked": {delivered[5], delivered[6]}}


async def _truth(session, settings, cid):
    messages = (await session.scalars(select(Message).where(Message.campaign_id == cid).order_by(Message.id))).all()
    inbound_rows = (await session.scalars(select(InboundMessage))).all()
    everyone = (await session.scalars(select(Message))).all()  # a later message of any campaign counts

    def answered(m) -> bool:
        if m.sent_at is None or m.state not in SENT:
            return False
        window = m.sent_at + timedelta(hours=settings.attribution_hours)
        for i in inbound_rows:
            if i.from_phone != m.to or i.classification != "reply" or i.to != OWNED[0]:
                continue
            if not m.sent_at <= i.received_at < window:
                continue
            if any(o.to == m.to and o.sent_at and m.sent_at < o.sent_at <= i.received_at for o in everyone):
                continue  # a later campaign message to that number was the one answered
            return True
        return False

    return messages, {m.id: answered(m) for m in messages}


def _counts(messages) -> dict:
    states = Counter(m.state for m in messages)
    delivered = states["delivered"]
    opt_outs = sum(1 for m in messages if m.opted_out_at is not None)
    return {"audience": len(messages), "queued": states["queued"] + states["sending"],
            "sent": sum(states[s] for s in SENT), "delivered": delivered,
            "failed": sum(states[s] for s in FAILED), "skipped": states["skipped"],
            "frequency_capped": sum(1 for m in messages if m.skip_reason == "frequency_cap"), "opt_outs": opt_outs,
            "opt_out_rate": opt_outs / max(delivered, opt_outs) if max(delivered, opt_outs) else 0.0}


async def test_report_numbers_equal_the_per_message_truth(client, marketer, mixed, session, settings):
    cid = mixed["cid"]
    response = await client.get(f"/v1/campaigns/{cid}/report", headers=marketer.headers)
    assert response.status_code == 200, response.text
    report = response.json()
    messages, answered = await _truth(session, settings, cid)

    for key, value in _counts(messages).items():
        assert report[key] == pytest.approx(value), key
    assert report["unknown"] == sum(1 for m in messages if m.state == "unknown")
    # the known mix, so the truth above is not vacuous
    assert (report["audience"], report["skipped"], report["failed"], report["opt_outs"]) == (16, 2, 3, 2)
    assert report["delivered"] == 11 and report["sent"] == 13  # a "failed" callback: never billed
    campaign_counts = (await client.get(f"/v1/campaigns/{cid}", headers=marketer.headers)).json()["counts"]
    assert {k: report[k] for k in campaign_counts} == campaign_counts  # the campaign's own definitions

    errors = Counter(m.error_code for m in messages if m.state in FAILED)
    assert {e["error_code"]: e["count"] for e in report["failed_by_error_code"]} == dict(errors) == {30007: 2, 30003: 1}
    reasons = Counter(m.skip_reason for m in messages if m.state == "skipped")
    assert {r["reason"]: r["count"] for r in report["skipped_by_reason"]} == dict(reasons)
    assert len(reasons) == 2 and any("{first_name}" in reason for reason in reasons)

    assert report["replies"]["replied"] == sum(answered.values()) == 2
    assert {m.to for m in messages if answered[m.id]} == mixed["replied"]
    assert report["replies"]["reply_rate"] == pytest.approx(2 / 13)

    baseline = report["opt_out_baseline"]
    assert baseline["baseline_rate"] == pytest.approx(settings.baseline_prior)  # no other completed campaign
    assert baseline["ratio"] == pytest.approx(report["opt_out_rate"] / settings.baseline_prior)
    human = {(c.subscriber_id) for c in (await session.scalars(select(LinkClick).where(
        LinkClick.campaign_id == cid, LinkClick.kind == "human"))).all()}
    assert report["clicks"] == {"available": True, "unique_human": len(human), "click_rate": pytest.approx(2 / 11)}
    assert {m.to for m in messages if m.subscriber_id in human} == mixed["clicked"]

    segments = sum(m.segments for m in messages if m.state in SENT)
    assert all(m.segments == 1 for m in messages if m.state in SENT)  # recorded as each message left
    cost = report["cost"]
    assert cost["segments_sent"] == segments == 13 and cost["messages_estimated"] == 0
    assert cost["estimated_cost"] == pytest.approx(13 * settings.price_per_segment)
    assert cost["currency"] == settings.price_currency == "USD"

    parts = report["canary"]
    assert parts is not None and parts["released_at"] is not None
    for name, rest in (("first_slice", False), ("rest", True)):
        for key, value in _counts([m for m in messages if m.canary_rest is rest]).items():
            assert parts[name][key] == pytest.approx(value), (name, key)
    assert parts["first_slice"]["audience"] > 0 and parts["rest"]["audience"] > 0
    assert parts["first_slice"]["audience"] + parts["rest"]["audience"] == 16

    expected: dict[int, Counter] = {}
    for m in messages:
        for kind, at, counted in (("sent", m.sent_at, m.state in SENT), ("delivered", m.delivered_at, m.state == "delivered"),
                                  ("failed", m.updated_at, m.state in FAILED), ("opt_outs", m.opted_out_at, True)):
            if counted and at is not None:
                expected.setdefault(minute(at), Counter())[kind] += 1
    points = report["timeline"]["points"]
    assert report["timeline"]["bucket_seconds"] == 60
    got = {minute(datetime.fromisoformat(p["minute"])): Counter({k: p[k] for k in ("sent", "delivered", "failed",
                                                                                     "opt_outs") if p[k]})
           for p in points}
    assert got == expected
    for kind in ("sent", "delivered", "failed", "opt_outs"):
        assert sum(p[kind] for p in points) == report[kind]


async def test_report_csv_rows_equal_the_messages(client, marketer, ops, reviewer, mixed, session, settings):
    cid = mixed["cid"]
    response = await client.get(f"/v1/campaigns/{cid}/report.csv", headers=ops.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    messages, answered = await _truth(session, settings, cid)
    assert [int(r["message_id"]) for r in rows] == [m.id for m in messages]
    for row, m in zip(rows, messages, strict=True):
        assert row["phone"] == "'" + m.to  # E.164 as elsewhere, guarded: a cell starting with + is a formula
        assert row["state"] == m.state
        assert row["skip_reason"] == (m.skip_reason or "")
        assert row["error_code"] == ("" if m.error_code is None else str(m.error_code))
        assert row["sent_at"] == (m.sent_at.isoformat() if m.sent_at else "")
        assert row["delivered_at"] == (m.delivered_at.isoformat() if m.delivered_at else "")
        assert row["opted_out"] == ("yes" if m.opted_out_at else "no")
        assert row["replied"] == ("yes" if answered[m.id] else "no")
        assert row["clicked"] == ("yes" if m.to in mixed["clicked"] else "no")
        assert row["canary_rest"] == ("yes" if m.canary_rest else "no")
    assert sum(r["replied"] == "yes" for r in rows) == 2 and sum(r["opted_out"] == "yes" for r in rows) == 2

    assert (await client.get(f"/v1/campaigns/{cid}/report.csv", headers=marketer.headers)).status_code == 200
    assert (await client.get(f"/v1/campaigns/{cid}/report.csv", headers=reviewer.headers)).status_code == 403


async def test_export_pages_join_up(mixed, db, settings, session):
    """Keyset pages of two: every message exactly once, in order."""
    campaign = await session.get(Campaign, mixed["cid"])
    ids = []
    async for rows, clicked in service.outcome_pages(db, campaign.id, campaign.sender_id, settings, page=2):
        assert len(rows) <= 2 and clicked <= {row.subscriber_id for row in rows}
        ids.extend(row.id for row in rows)
    expected = (await session.scalars(select(Message.id).where(Message.campaign_id == campaign.id)
                                      .order_by(Message.id))).all()
    assert ids == list(expected)


def test_csv_cells_cannot_start_a_formula():
    row = SimpleNamespace(id=1, subscriber_id="sub_1", to="+14155550100", state="skipped", skip_reason="=HYPERLINK(\"http://x\")",
                          error_code=None, sent_at=None, delivered_at=None, opted_out_at=None, replied=False,
                          segments=None, canary_rest=False)
    cells = export.row_of(row, set())
    assert cells[1] == "'+14155550100" and cells[3].startswith("'=")
    for value in ("-1", "@SUM(A1)", "+1"):
        assert export.row_of(SimpleNamespace(**{**vars(row), "skip_reason": value}), set())[3] == "'" + value


async def test_who_may_read_the_report(client, marketer, mixed, db):
    cid = mixed["cid"]
    async with db.unit_of_work() as s:
        agent = await make_user(s, roles=["agent"])
    assert (await client.get(f"/v1/campaigns/{cid}/report")).status_code == 401
    assert (await client.get(f"/v1/campaigns/{cid}/report", headers=agent.headers)).status_code == 200  # as the campaign
    assert (await client.get(f"/v1/campaigns/{cid}/report.csv", headers=agent.headers)).status_code == 403
    assert (await client.get("/v1/campaigns/cmp_nope/report", headers=marketer.headers)).status_code == 404
    assert (await client.get("/v1/campaigns/cmp_nope/report.csv", headers=marketer.headers)).status_code == 404


async def test_timeline_is_grouped_in_the_database(mixed, session):
    """600 more messages over three minutes come back as three per-minute points (one row per minute
    and kind from the database, whatever the audience), each with the exact counts."""
    campaign = await session.get(Campaign, mixed["cid"])
    start = datetime(2026, 11, 23, 18, 0, 0, 250_000, tzinfo=UTC)
    at = [start + timedelta(minutes=i % 3, seconds=(i // 3) % 59) for i in range(600)]
    people = [{"id": f"sub_t{i:05d}", "phone": f"+1646555{i:04d}", "time_zone": "America/New_York",
               "attributes": {}, "time_zones": []} for i in range(600)]
    await session.execute(insert(Subscriber), people)
    await session.execute(insert(Message), [
        {"campaign_id": campaign.id, "subscriber_id": p["id"], "to": p["phone"], "state": "delivered",
         "sent_at": at[i], "delivered_at": at[i] + timedelta(seconds=1),
         "segments": 2, "created_at": start} for i, p in enumerate(people)])
    await session.flush()
    result = await service.timeline(session, campaign.id)
    ours = [p for p in result["points"] if p["minute"].date() == start.date()]
    assert [p["minute"] for p in ours] == [start.replace(second=0, microsecond=0) + timedelta(minutes=k)
                                           for k in range(3)]
    assert [p["sent"] for p in ours] == [200, 200, 200]
    assert [p["delivered"] for p in ours] == [200, 200, 200]


async def test_unrecorded_segments_are_estimated_and_the_baseline_leaves_the_campaign_out(client, marketer, mixed,
                                                                                          session, settings):
    cid = mixed["cid"]
    one = await session.scalar(select(Message.id).where(Message.campaign_id == cid, Message.state == "delivered")
                               .limit(1))
    await session.execute(update(Message).where(Message.id == one).values(segments=None))  # as if reconciled
    await session.execute(update(Campaign).where(Campaign.id == cid).values(state="completed", completed_at=utcnow()))
    await session.commit()
    report = (await client.get(f"/v1/campaigns/{cid}/report", headers=marketer.headers)).json()
    cost = report["cost"]
    assert cost["messages_estimated"] == 1 and cost["estimated_segments_per_message"] == 1
    assert cost["segments_recorded"] == 12 and cost["segments_sent"] == 13
    # the guard's baseline now pools this completed campaign; the report's compares it with the others
    assert report["opt_out_baseline"]["baseline_rate"] == pytest.approx(settings.baseline_prior)
    assert await policy.company_baseline(session, settings) > settings.baseline_prior


async def test_a_reply_belongs_to_the_last_campaign_message_before_it(client, marketer, mixed, session, settings):
    """A later campaign message to the same number, sent before the reply, is the one answered."""
    cid = mixed["cid"]
    phone = sorted(mixed["replied"])[0]
    first = await session.scalar(select(Message).where(Message.campaign_id == cid, Message.to == phone))
    reply_at = await session.scalar(select(func.min(InboundMessage.received_at)).where(
        InboundMessage.from_phone == phone, InboundMessage.classification == "reply"))
    own = await session.get(Campaign, cid)
    other = Campaign(name="Next", author_id=own.author_id, owner_id=own.owner_id, sender_id=own.sender_id,
                     body=own.body, state="completed")
    session.add(other)
    await session.flush()
    session.add(Message(campaign_id=other.id, subscriber_id=first.subscriber_id, to=phone, state="delivered",
                        sent_at=first.sent_at + (reply_at - first.sent_at) / 2, segments=1))
    await session.commit()

    mine = (await client.get(f"/v1/campaigns/{cid}/report", headers=marketer.headers)).json()["replies"]
    theirs = (await client.get(f"/v1/campaigns/{other.id}/report", headers=marketer.headers)).json()["replies"]
    _, answered = await _truth(session, settings, cid)
    assert mine["replied"] == sum(answered.values()) == 1
    assert theirs["replied"] == 1
