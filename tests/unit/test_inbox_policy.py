"""The inbox's pure rules: consent, timing, business hours, routing, permissions, media, lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.audience.quiet_hours import Window
from app.campaigns import content
from app.inbox import lifecycle, policy

NOW = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)  # 10:00 in San Francisco
DAY = timedelta(hours=24)
SF = ["America/Los_Angeles"]
WINDOW = Window(8 * 3600, 21 * 3600)


def refusal(**overrides):
    values = {"opted_out": False, "has_consent": False, "last_inbound_at": NOW - timedelta(hours=1), "now": NOW,
              "reply_window": DAY, "starting": False} | overrides
    found = policy.consent_refusal(**values)
    return found.rule if found else None


def test_an_opt_out_refuses_everything_even_with_consent_and_a_fresh_message():
    assert refusal(opted_out=True, has_consent=True) == "opted_out"


def test_a_customer_who_texted_may_be_answered_inside_the_window_only():
    assert refusal() is None
    assert refusal(last_inbound_at=NOW - DAY) is None  # the edge is inside
    assert refusal(last_inbound_at=NOW - DAY - timedelta(seconds=1)) == "window_closed"
    assert refusal(last_inbound_at=None) == "no_consent"


def test_active_consent_answers_any_time_and_is_needed_to_start():
    assert refusal(last_inbound_at=None, has_consent=True) is None
    assert refusal(starting=True) == "no_consent"  # a recent message does not open a new conversation
    assert refusal(starting=True, has_consent=True) is None


def test_replies_while_the_customer_texts_go_now_else_at_their_window():
    late = datetime(2026, 12, 4, 7, 0, tzinfo=UTC)  # 23:00 in San Francisco
    grace = timedelta(minutes=15)
    texting = policy.send_at(late, last_inbound_at=late - timedelta(minutes=15), texting_grace=grace, zones=SF,
                             window=WINDOW)
    assert texting == late
    waiting = policy.send_at(late, last_inbound_at=late - timedelta(minutes=16), texting_grace=grace, zones=SF,
                             window=WINDOW)
    assert waiting == datetime(2026, 12, 4, 16, 0, tzinfo=UTC)
    assert policy.send_at(NOW, last_inbound_at=None, texting_grace=grace, zones=SF, window=WINDOW) == NOW


def test_one_auto_reply_per_local_day_outside_business_hours():
    hours = policy.parse_business_hours("09:00-17:00", "America/Los_Angeles", "mon,tue,wed,thu,fri")
    friday_night = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)  # Friday 22:00 local
    assert policy.auto_reply_due(hours, now=friday_night, last_auto_reply_at=None)
    assert not policy.auto_reply_due(hours, now=friday_night + timedelta(hours=1), last_auto_reply_at=friday_night)
    saturday_noon = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)  # a weekend day: closed
    assert policy.auto_reply_due(hours, now=saturday_noon, last_auto_reply_at=friday_night)
    assert not policy.auto_reply_due(hours, now=NOW, last_auto_reply_at=None)  # Friday 10:00: open
    assert policy.parse_business_hours("off", "UTC", "mon") is None
    with pytest.raises(ValueError, match="unknown business day"):
        policy.parse_business_hours("09:00-17:00", "UTC", "mon,funday")


def agent(id_, *, active=True, available=True, last=None):
    return policy.Agent(id_, active, available, last)


def test_routing_prefers_the_last_assignee_then_the_longest_idle_available_agent():
    agents = [agent("a", last=NOW), agent("b", last=NOW - timedelta(hours=1)), agent("c", available=False),
              agent("d", active=False)]
    assert policy.choose_assignee(agent("z", available=False), agents) == "z"
    assert policy.choose_assignee(agent("z", active=False), agents) == "b"
    assert policy.choose_assignee(None, [*agents, agent("e")]) == "e"  # never assigned: first in turn
    assert policy.choose_assignee(None, [agent("c", available=False)]) is None


def test_who_may_act_and_assign():
    assert policy.act_refusal(roles=["agent"], actor_id="a", assignee_id="b")
    assert policy.act_refusal(roles=["agent"], actor_id="a", assignee_id=None) is None
    assert policy.act_refusal(roles=["ops"], actor_id="o", assignee_id="b") is None
    assert policy.act_refusal(roles=["marketer"], actor_id="m", assignee_id=None)
    assert policy.assign_refusal(roles=["agent"], actor_id="a", assignee_id=None, target_id="a") is None
    assert policy.assign_refusal(roles=["agent"], actor_id="a", assignee_id=None, target_id="b")
    assert policy.assign_refusal(roles=["agent"], actor_id="a", assignee_id="a", target_id="b") is None
    assert policy.assign_refusal(roles=["agent"], actor_id="a", assignee_id="b", target_id="a")
    assert policy.assign_refusal(roles=["admin"], actor_id="x", assignee_id="b", target_id="a") is None


def test_media_links_are_kept_as_reported_and_never_more_than_ten():
    params = {"NumMedia": "12", **{f"MediaUrl{i}": f"https://api.twilio.com/m/{i}" for i in range(12)},
              "MediaContentType0": "image/jpeg"}
    media = policy.media_of(params)
    assert len(media) == 10 and media[0] == {"url": "https://api.twilio.com/m/0", "content_type": "image/jpeg"}
    assert policy.media_of({"NumMedia": "x"}) == [] and policy.media_of({"NumMedia": "1", "MediaUrl0": "file:///x"}) == []


def test_the_conversation_lifecycle():
    lifecycle.check_move("open", "snoozed")
    lifecycle.check_move("resolved", "open")
    with pytest.raises(lifecycle.IllegalTransition):
        lifecycle.check_move("resolved", "snoozed")


@pytest.mark.parametrize(("body", "codes"), [
    ("Yes, we have it in blue. Want us to hold one?", set()),
    ("Text me on my cell instead", {"personal_channel"}),
    ("WhatsApp me when you are free", {"personal_channel"}),
    ("follow me @ana.styles", {"personal_channel"}),
    ("follow us @northwind", set()),
    ("email me at ana.b@gmail.com", {"personal_contact"}),
    ("call 415-555-0199", {"personal_contact"}),
])
def test_personal_findings_of_a_reply(body, codes):
    ctx = content.ContentContext(brand_name="Northwind", company_emails=frozenset({"@northwind"}))
    assert {f.code for f in content.personal_findings(body, ctx)} >= codes
    if not codes:  # (the oops detector's own verdicts are pinned by its tests)
        assert not {f.code for f in content.personal_findings(body, ctx)} & {"personal_channel", "personal_contact"}
