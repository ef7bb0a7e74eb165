"""The frequency cap (issue 18, part 2): at most N marketing messages per phone number in a rolling
window, across every campaign and list; held at materialisation and again right before sending (two
campaigns launched at the same moment cannot both get through); a transactional campaign, reviewed
like any other, is exempt; the setting is the company's, changed by an admin and audited."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.campaigns import service as campaigns
from app.company.policy import FrequencyCap
from app.config import Settings
from app.db import Database, migrations
from app.db.base import utcnow
from app.dispatch import claim, frequency, reconcile, runner
from app.dispatch.send import process_batch
from app.models import (
    AuditEvent,
    Campaign,
    CampaignList,
    Message,
    Sender,
    Subscriber,
    SubscriberList,
    Subscription,
    User,
)
from app.providers.sandbox import SandboxProvider
from tests.conftest import OWNED
from tests.dispatch_world import BODY, CONSENT, DAYTIME, PHONES, build, drain


async def launch_another(client, marketer, reviewer, world, *, list_id=None, transactional=False,
                         launch=True) -> str:
    created = await client.post("/v1/campaigns", json={
        "name": "Another", "sender_id": world["sender"]["id"], "list_ids": [list_id or world["list"]["id"]],
        "body": BODY, "transactional": transactional}, headers=marketer.headers)
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    assert (await client.post(f"/v1/campaigns/{cid}/submit", headers=marketer.headers)).status_code == 200
    reviewed = await client.post(f"/v1/campaigns/{cid}/review", json={"decision": "approve", "comment": "ok"},
                                 headers=reviewer.headers)
    assert reviewed.json()["state"] == "approved", reviewed.text
    if launch:
        launched = await client.post(f"/v1/campaigns/{cid}/launch", headers=marketer.headers)
        assert launched.json()["state"] == "sending", launched.text
    return cid


async def outcome(session, campaign_id: str) -> dict[str, tuple[str, str | None]]:
    session.expire_all()
    rows = (await session.scalars(select(Message).where(Message.campaign_id == campaign_id))).all()
    return {m.to: (m.state, m.skip_reason) for m in rows}


def sent_to(provider) -> list[str]:
    return sorted(m.to for m in provider.sent)


# ---- the company setting ----------------------------------------------------------------------

async def test_the_cap_is_a_company_setting_an_admin_changes_and_the_change_is_audited(client, admin, marketer,
                                                                                       session):
    default = await client.get("/v1/settings", headers=marketer.headers)
    assert default.status_code == 200
    assert default.json() == {"frequency_cap": {"messages": 1, "hours": 16.0}, "source": "default",
                              "updated_at": None, "updated_by_id": None}
    forbidden = await client.put("/v1/settings", json={"frequency_cap": {"messages": 2, "hours": 24}},
                                 headers=marketer.headers)
    assert forbidden.status_code == 403
    saved = await client.put("/v1/settings", json={"frequency_cap": {"messages": 2, "hours": 24}},
                             headers=admin.headers)
    assert saved.status_code == 200, saved.text
    assert saved.json()["frequency_cap"] == {"messages": 2, "hours": 24.0}
    assert saved.json()["source"] == "company" and saved.json()["updated_by_id"] == admin.id
    assert (await client.get("/v1/settings", headers=marketer.headers)).json()["frequency_cap"]["messages"] == 2
    off = await client.put("/v1/settings", json={"frequency_cap": None}, headers=admin.headers)
    assert off.json()["frequency_cap"] is None
    events = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "company.settings_changed")
                                    .order_by(AuditEvent.id))).all()
    assert [(e.actor_id, e.details) for e in events] == [
        (admin.id, {"previous": {"frequency_cap": {"messages": 1, "hours": 16.0}},
                    "current": {"frequency_cap": {"messages": 2, "hours": 24.0}}}),
        (admin.id, {"previous": {"frequency_cap": {"messages": 2, "hours": 24.0}}, "current": {"frequency_cap": None}}),
    ]


@pytest.mark.parametrize("payload,field", [
    ({"frequency_cap": {"messages": 0, "hours": 16}}, "messages"),
    ({"frequency_cap": {"messages": 1, "hours": 0}}, "hours"),
    ({"frequency_cap": {"messages": 1, "hours": 169}}, "hours"),
    ({"frequency_cap": {"messages": 1}}, "hours"),
    ({"frequency_cap": {"messages": 1, "hours": 16, "per": "list"}}, "per"),
    ({}, "frequency_cap"),
])
async def test_a_bad_setting_is_422_naming_the_field_and_keeps_the_saved_one(client, admin, payload, field):
    assert (await client.put("/v1/settings", json={"frequency_cap": {"messages": 3, "hours": 12}},
                             headers=admin.headers)).status_code == 200
    refused = await client.put("/v1/settings", json=payload, headers=admin.headers)
    assert refused.status_code == 422 and field in refused.text
    assert (await client.get("/v1/settings", headers=admin.headers)).json()["frequency_cap"] == {
        "messages": 3, "hours": 12.0}


# ---- held across campaigns and lists ----------------------------------------------------------

async def test_a_person_on_two_lists_gets_one_marketing_text_in_the_window(client, admin, marketer, reviewer, db,
                                                                           provider, settings, session):
    settings.quiet_hours = "off"  # sent at the current time, whatever the hour in San Francisco
    world = await build(client, admin, marketer, reviewer)
    await drain(db, provider, settings, now=utcnow())
    assert sent_to(provider) == sorted(PHONES)
    other = (await client.post("/v1/lists", json={"name": "News", "opt_in": "single",
                                                  "sender_id": world["sender"]["id"]}, headers=marketer.headers)).json()
    for phone in (PHONES[0], "+14155552690"):
        added = await client.post(f"/v1/lists/{other['id']}/subscribers", json={"phone": phone, "consent": CONSENT},
                                  headers=marketer.headers)
        assert added.status_code == 201
    second = await launch_another(client, marketer, reviewer, world, list_id=other["id"])
    # skipped when the audience was materialised: counted with the reason, never queued
    assert await outcome(session, second) == {PHONES[0]: ("skipped", "frequency_cap"), "+14155552690": ("queued", None)}
    got = (await client.get(f"/v1/campaigns/{second}", headers=marketer.headers)).json()
    assert (got["counts"]["audience"], got["counts"]["skipped"], got["counts"]["frequency_capped"],
            got["counts"]["queued"]) == (2, 1, 1, 1)
    assert got["state_reason"] == "launched to 2 recipients; 1 skipped by the frequency cap"
    await drain(db, provider, settings, now=utcnow())
    assert sent_to(provider) == sorted([*PHONES, "+14155552690"])  # PHONES[0] once


async def test_the_cap_is_held_again_right_before_sending(client, admin, marketer, reviewer, db, provider, settings,
                                                          session):
    """Both campaigns materialised before either sent (nothing to see then): the re-check holds it."""
    world = await build(client, admin, marketer, reviewer)
    second = await launch_another(client, marketer, reviewer, world)
    assert {state for state, _ in (await outcome(session, second)).values()} == {"queued"}
    await drain(db, provider, settings)
    assert sent_to(provider) == sorted(PHONES)  # each once
    first = await outcome(session, world["campaign"]["id"])
    assert first == {phone: ("sent", None) for phone in PHONES}  # the first launched, first claimed
    assert await outcome(session, second) == {phone: ("skipped", "frequency_cap") for phone in PHONES}
    counts = (await client.get(f"/v1/campaigns/{second}", headers=marketer.headers)).json()["counts"]
    assert (counts["skipped"], counts["frequency_capped"], counts["sent"]) == (3, 3, 0)


async def test_the_window_rolls(client, admin, marketer, reviewer, db, provider, settings, session):
    settings.quiet_hours = "off"  # the fake clock runs through the night
    world = await build(client, admin, marketer, reviewer, phones=PHONES[:1])
    await drain(db, provider, settings, now=DAYTIME)
    early = await launch_another(client, marketer, reviewer, world)
    await drain(db, provider, settings, now=DAYTIME + timedelta(hours=15, minutes=59))
    assert await outcome(session, early) == {PHONES[0]: ("skipped", "frequency_cap")}
    later = await launch_another(client, marketer, reviewer, world)
    await drain(db, provider, settings, now=DAYTIME + timedelta(hours=16, minutes=1))
    assert await outcome(session, later) == {PHONES[0]: ("sent", None)}
    again = await launch_another(client, marketer, reviewer, world)
    await drain(db, provider, settings, now=DAYTIME + timedelta(hours=24))  # 8 h after the last one
    assert await outcome(session, again) == {PHONES[0]: ("skipped", "frequency_cap")}
    assert len(provider.sent) == 2


async def test_n_messages_per_window(client, admin, marketer, reviewer, db, provider, settings, session):
    saved = await client.put("/v1/settings", json={"frequency_cap": {"messages": 2, "hours": 24}},
                             headers=admin.headers)
    assert saved.status_code == 200
    world = await build(client, admin, marketer, reviewer)
    second = await launch_another(client, marketer, reviewer, world)
    third = await launch_another(client, marketer, reviewer, world)
    await drain(db, provider, settings)
    assert len(provider.sent) == 2 * len(PHONES)
    assert {state for state, _ in (await outcome(session, second)).values()} == {"sent"}
    assert await outcome(session, third) == {phone: ("skipped", "frequency_cap") for phone in PHONES}


async def test_no_cap_when_the_company_turns_it_off(client, admin, marketer, reviewer, db, provider, settings):
    await client.put("/v1/settings", json={"frequency_cap": None}, headers=admin.headers)
    world = await build(client, admin, marketer, reviewer)
    await launch_another(client, marketer, reviewer, world)
    await drain(db, provider, settings)
    assert sent_to(provider) == sorted(PHONES * 2)


async def test_a_message_that_goes_back_to_the_queue_gives_its_place_back(client, admin, marketer, reviewer, db,
                                                                          provider, settings, session):
    """The first campaign's messages take their places, then wait for the sender's next carrier day
    (its daily cap is used up): the places are given back, the second campaign's go out, and the
    first's are capped when their day comes."""
    settings.quiet_hours = "off"  # the first campaign's day starts at midnight Pacific
    world = await build(client, admin, marketer, reviewer, launch=False)
    await session.execute(update(Sender).where(Sender.id == world["sender"]["id"]).values(daily_cap=0))
    await session.commit()
    first = world["campaign"]["id"]
    assert (await client.post(f"/v1/campaigns/{first}/launch", headers=marketer.headers)).status_code == 200
    result = await runner.dispatch_once(db, provider, settings, now=DAYTIME)
    assert result.counts["deferred"] == len(PHONES) and not provider.sent
    session.expire_all()
    places = (await session.scalars(select(Message.contacted_at).where(Message.campaign_id == first))).all()
    assert places == [None] * len(PHONES)
    await session.execute(update(Sender).where(Sender.id == world["sender"]["id"]).values(daily_cap=None))
    await session.commit()
    second = await launch_another(client, marketer, reviewer, world)
    await drain(db, provider, settings, now=DAYTIME + timedelta(minutes=1))
    assert await outcome(session, second) == {phone: ("sent", None) for phone in PHONES}
    await drain(db, provider, settings, now=DAYTIME + timedelta(hours=14, minutes=1))  # 08:01 UTC, 00:01 Pacific
    assert await outcome(session, first) == {phone: ("skipped", "frequency_cap") for phone in PHONES}
    assert len(provider.sent) == len(PHONES)


# ---- transactional campaigns ------------------------------------------------------------------

async def test_a_transactional_campaign_is_exempt_and_takes_no_place(client, admin, marketer, reviewer, db, provider,
                                                                     settings, session):
    world = await build(client, admin, marketer, reviewer, launch=False)
    receipt = await launch_another(client, marketer, reviewer, world, transactional=True)
    await drain(db, provider, settings)
    places = (await session.scalars(select(Message.contacted_at).where(Message.campaign_id == receipt))).all()
    assert places == [None] * len(PHONES)  # exempt: not counted against the person's marketing texts
    launched = await client.post(f"/v1/campaigns/{world['campaign']['id']}/launch", headers=marketer.headers)
    assert launched.status_code == 200
    another_receipt = await launch_another(client, marketer, reviewer, world, transactional=True)
    await drain(db, provider, settings, now=DAYTIME + timedelta(minutes=5))
    assert await outcome(session, world["campaign"]["id"]) == {phone: ("sent", None) for phone in PHONES}
    assert await outcome(session, another_receipt) == {phone: ("sent", None) for phone in PHONES}  # after marketing
    assert sent_to(provider) == sorted(PHONES * 3)


async def test_transactional_is_reviewed_and_bound_by_the_approval(client, admin, marketer, reviewer, session,
                                                                   settings):
    world = await build(client, admin, marketer, reviewer, launch=False)
    cid = await launch_another(client, marketer, reviewer, world, transactional=True, launch=False)
    check = (await client.post(f"/v1/campaigns/{cid}/check", headers=reviewer.headers)).json()
    assert [f["code"] for f in check["findings"] if f["code"] == "transactional"] == ["transactional"]
    got = (await client.get(f"/v1/campaigns/{cid}", headers=marketer.headers)).json()
    assert got["transactional"] is True and got["state"] == "approved"
    # bound by the approval: a marketing campaign with the same content hashes differently
    stored = await session.get(Campaign, cid)
    parts = {"full_body": BODY, "sender_id": world["sender"]["id"], "list_ids": [world["list"]["id"]],
             "rollout": None, "scheduled_at": None}
    parts["values"] = stored.approved_values  # BODY's {first_name} values, bound too
    assert stored.approved_hash == campaigns.content_hash(**parts, transactional=True)
    assert stored.approved_hash != campaigns.content_hash(**parts)
    # flipped behind the API's back after the approval: the launch refuses it
    await session.execute(update(Campaign).where(Campaign.id == cid).values(transactional=False))
    await session.commit()
    refused = await client.post(f"/v1/campaigns/{cid}/launch", headers=marketer.headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "approval_void"
    # through the API, flipping it is an edit: the review is void
    other = await launch_another(client, marketer, reviewer, world, launch=False)
    edited = await client.patch(f"/v1/campaigns/{other}", json={"transactional": True}, headers=marketer.headers)
    assert edited.status_code == 200 and edited.json()["state"] == "draft"
    assert (await client.patch(f"/v1/campaigns/{other}", json={"transactional": None},
                               headers=marketer.headers)).status_code == 422


# ---- two campaigns launched at the same moment, on their own connections ------------------------

N = 60


@pytest.fixture
def committed_url(scratch_database_url):
    migrations.upgrade(scratch_database_url)
    return scratch_database_url


async def _seed(url: str) -> tuple[str, list[str], list[str]]:
    """A verified sender, one list of N people, two approved marketing campaigns to it."""
    db = Database.from_url(url)
    try:
        async with db.unit_of_work() as session:
            user = User(email="m@example.com", name="M", roles=["marketer"])
            sender = Sender(kind="short_code", address="12345", label="S", mps=10_000, state="verified",
                            verified_at=utcnow(), pool=[])
            session.add_all([user, sender])
            await session.flush()
            lst = SubscriberList(name="L", opt_in="single", sender_id=sender.id)
            session.add(lst)
            await session.flush()
            people = [Subscriber(phone=f"+1415555{i:04d}", time_zone="America/Los_Angeles",
                                 time_zones=["America/Los_Angeles"]) for i in range(N)]
            session.add_all(people)
            await session.flush()
            session.add_all([Subscription(list_id=lst.id, subscriber_id=p.id, state="subscribed") for p in people])
            pair = [Campaign(name=f"C{i}", author_id=user.id, owner_id=user.id, sender_id=sender.id,
                             body="Acme: hi. STOP to end", state="approved") for i in range(2)]
            session.add_all(pair)
            await session.flush()
            session.add_all([CampaignList(campaign_id=c.id, list_id=lst.id) for c in pair])
            return sender.id, [c.id for c in pair], [p.phone for p in people]
    finally:
        await db.dispose()


async def test_the_cap_holds_with_two_campaigns_launched_at_the_same_moment(committed_url):
    """Each campaign is launched and sent by its own worker on its own connection, batch by batch in
    step (the same people at the same time): on PostgreSQL the two re-checks really run at once and
    meet on the numbers' ledger rows; on SQLite one writer at a time. Everyone gets exactly one."""
    sender_id, campaign_ids, phones = await _seed(committed_url)
    settings = Settings(database_url=committed_url, quiet_hours="off", _env_file=None)
    provider = SandboxProvider(OWNED, account_sid=settings.account_sid, auth_token=settings.auth_token,
                               callbacks=False)
    workers = [Database.from_url(committed_url) for _ in campaign_ids]
    launched = asyncio.Barrier(2)
    step = asyncio.Barrier(2)

    async def launch(db: Database, campaign_id: str) -> None:
        await launched.wait()
        async with db.unit_of_work() as session:
            campaign = await session.get(Campaign, campaign_id, with_for_update=True)
            await campaigns.start_sending(session, campaign, list_ids=await campaigns.list_ids_of(session, campaign),
                                          actor=None, settings=settings)

    async def work(db: Database, campaign_id: str) -> None:
        for _ in range(N // 10 + 2):
            async with db.unit_of_work() as session:
                batch = await claim.claim(session, campaign_id, sender_id, limit=10, now=utcnow(),
                                          lease=timedelta(minutes=2))
            await step.wait()  # both workers hold the same ten people now: re-check them at once
            if batch:
                await process_batch(db, provider, settings, batch)

    try:
        await asyncio.gather(*(launch(db, cid) for db, cid in zip(workers, campaign_ids, strict=True)))
        async with workers[0].session() as session:
            states = dict((await session.execute(select(Message.state, func.count()).group_by(Message.state))).all())
        assert states == {"queued": 2 * N}  # materialised at once: neither saw the other's texts
        await asyncio.gather(*(work(db, cid) for db, cid in zip(workers, campaign_ids, strict=True)))
        async with workers[0].session() as session:
            rows = (await session.execute(select(Message.to, Message.state, Message.skip_reason))).all()
    finally:
        for db in workers:
            await db.dispose()
    by_phone: dict[str, list[tuple[str, str | None]]] = {}
    for to, state, reason in rows:
        by_phone.setdefault(to, []).append((state, reason))
    assert sorted(by_phone) == sorted(phones)
    assert all(sorted(outcomes) == [("sent", None), ("skipped", "frequency_cap")] for outcomes in by_phone.values()), \
        by_phone
    assert sorted(m.to for m in provider.sent) == sorted(phones)  # each person exactly once


async def test_a_place_taken_by_a_worker_that_died_holds_until_reconciled_then_is_its_own(
        client, admin, marketer, reviewer, db, provider, settings, session):
    """A worker took places and died before sending: the messages are in doubt (they may have gone),
    so the places hold against other campaigns; the reconciler finds nothing at the provider and
    requeues them, and each goes out on its own place — once."""

    world = await build(client, admin, marketer, reviewer, phones=PHONES[:1])
    first = world["campaign"]["id"]
    batch = await runner.claim_batch(db, settings, now=DAYTIME)
    async with db.unit_of_work() as work:  # the re-check's transaction commits; the worker dies here
        assert await frequency.reserve(work, batch, FrequencyCap(1, 16), DAYTIME) == set()
    second = await launch_another(client, marketer, reviewer, world)
    await drain(db, provider, settings, now=DAYTIME + timedelta(minutes=1))
    assert await outcome(session, second) == {PHONES[0]: ("skipped", "frequency_cap")}
    after_lease = DAYTIME + timedelta(seconds=settings.lease_seconds + 1)
    async with db.unit_of_work() as work:
        assert (await reconcile.reconcile(work, provider, settings, now=after_lease))["requeued"] == 1
    await drain(db, provider, settings, now=after_lease)
    assert await outcome(session, first) == {PHONES[0]: ("sent", None)}
    assert sent_to(provider) == [PHONES[0]]


async def test_a_canary_slice_is_drawn_from_the_people_the_cap_left(client, admin, marketer, reviewer, db, provider,
                                                                   settings, session):
    """Two of three people were texted today: the one left is the slice (a slice of nobody proves
    nothing), never held behind a slice of capped messages."""
    settings.quiet_hours = "off"
    world = await build(client, admin, marketer, reviewer, phones=PHONES[:2])
    await drain(db, provider, settings, now=utcnow())
    added = await client.post(f"/v1/lists/{world['list']['id']}/subscribers",
                              json={"phone": PHONES[2], "consent": CONSENT}, headers=marketer.headers)
    assert added.status_code == 201
    cid = await launch_another(client, marketer, reviewer, world, launch=False)
    edited = await client.patch(f"/v1/campaigns/{cid}", json={"rollout": {"first_slice_percent": 1,
                                                                           "observe_minutes": 30}},
                                headers=marketer.headers)
    assert edited.status_code == 200
    await client.post(f"/v1/campaigns/{cid}/submit", headers=marketer.headers)
    await client.post(f"/v1/campaigns/{cid}/review", json={"decision": "approve", "comment": "ok"},
                      headers=reviewer.headers)
    launched = await client.post(f"/v1/campaigns/{cid}/launch", headers=marketer.headers)
    assert launched.json()["state"] == "sending", launched.text
    session.expire_all()
    rows = {m.to: (m.state, m.held) for m in
            (await session.scalars(select(Message).where(Message.campaign_id == cid))).all()}
    assert rows == {PHONES[0]: ("skipped", False), PHONES[1]: ("skipped", False), PHONES[2]: ("queued", False)}
