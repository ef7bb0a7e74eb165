"""A small audience for filter tests: every kind of subscriber a filter must never let through (pending,
unsubscribed, opted out, erased, invalid, suppressed, on another list), beside sendable ones with
varied attributes, consent times, campaign messages and replies; and a reference evaluator of the
filter grammar written from docs/api.md ("Segments"), to hold the SQL against."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from app.models import (
    Campaign,
    ConsentEvent,
    InboundMessage,
    LinkClick,
    Message,
    Sender,
    Subscriber,
    SubscriberList,
    Subscription,
    Suppression,
    User,
)
from app.targeting import filters as f

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)

CITIES = ["Austin", "austin", "Boston", "New Austin", 42, None]
AGES = [25, "31", 40.5, "x", "-7", "3.", True, None]
JOINED_ON = ["2026-01-15", "2025-12-31T10:00:00Z", "2026-13", "nope", 20260101, None]
VIPS = [True, False, "true", None]
ZONES = ["America/Chicago", "America/New_York", "America/Los_Angeles"]
STATES = ["TX", "MA", None]
#: how the subscription stands: each but "ok" must keep the person out of every audience
KINDS = ["ok", "ok", "ok", "pending", "unsubscribed", "opted_out", "erased", "invalid", "suppressed", "other_list"]


@dataclass
class Person:
    id: str
    phone: str
    attributes: dict
    time_zone: str
    us_state: str | None
    kind: str
    consented_at: datetime
    received_at: list[datetime] = field(default_factory=list)
    replied_at: list[datetime] = field(default_factory=list)
    clicked_at: list[datetime] = field(default_factory=list)  # human clicks only

    @property
    def sendable(self) -> bool:
        return self.kind == "ok"


async def build(session, count: int = 60) -> dict:
    user = User(email="seg@example.com", name="S", roles=["marketer"])
    sender = Sender(kind="short_code", address="55555", label="S", mps=100, state="verified", verified_at=NOW, pool=[])
    session.add_all([user, sender])
    await session.flush()
    target = SubscriberList(name="Target", opt_in="single", sender_id=sender.id)
    other = SubscriberList(name="Other", opt_in="single", sender_id=sender.id)
    session.add_all([target, other])
    await session.flush()
    earlier = Campaign(name="Earlier", author_id=user.id, owner_id=user.id, sender_id=sender.id,
                       body="Acme: hi. Reply STOP to opt out.", state="completed")
    linked = Campaign(name="Linked", author_id=user.id, owner_id=user.id, sender_id=sender.id,
                      body="Acme: see https://acme.example/sale Reply STOP to opt out.", state="completed")
    session.add_all([earlier, linked])
    await session.flush()
    people = []
    for i in range(count):
        attributes = {}
        for key, pool, step in (("city", CITIES, 1), ("age", AGES, 3), ("joined_on", JOINED_ON, 5), ("vip", VIPS, 7)):
            value = pool[(i * step + i // len(pool)) % len(pool)]
            if value is not None:
                attributes[key] = value
        if i % 4 == 0:
            attributes["tags"] = "gold,vip" if i % 8 == 0 else "silver"
        kind = KINDS[i % len(KINDS)] if i >= 3 else "ok"
        phone = f"+1512555{i:04d}"
        subscriber = Subscriber(phone=phone, first_name=f"P{i}", attributes=attributes, time_zone=ZONES[i % 3],
                                time_zones=[ZONES[i % 3]], us_state=STATES[i % 3],
                                opted_out_at=NOW - timedelta(days=1) if kind == "opted_out" else None,
                                erased_at=NOW - timedelta(days=1) if kind == "erased" else None,
                                invalid_reason="landline" if kind == "invalid" else None)
        session.add(subscriber)
        await session.flush()
        consented_at = datetime(2025, 6, 1, tzinfo=UTC) + timedelta(days=17 * i)
        lst = other if kind == "other_list" else target
        event = ConsentEvent(subscriber_id=subscriber.id, list_id=lst.id, kind="opt_in", channel="web_form",
                             phone=phone, consented_at=consented_at)
        session.add(event)
        await session.flush()
        state = {"pending": "pending", "unsubscribed": "unsubscribed"}.get(kind, "subscribed")
        session.add(Subscription(list_id=lst.id, subscriber_id=subscriber.id, state=state, consent_event_id=event.id))
        if kind == "suppressed":
            session.add(Suppression(phone=phone, reason="STOP", opted_out_at=NOW - timedelta(days=2)))
        person = Person(subscriber.id, phone, attributes, ZONES[i % 3], STATES[i % 3], kind, consented_at)
        if i % 3 == 1:
            sent_at = NOW - timedelta(days=(i % 50) + 1)
            state = "delivered" if i % 2 else "failed"
            session.add(Message(campaign_id=earlier.id, subscriber_id=subscriber.id, to=phone, state=state,
                                sent_at=sent_at))
            if state == "delivered":
                person.received_at.append(sent_at)
        if i % 5 == 2:
            received = NOW - timedelta(days=(i % 40) + 1)
            session.add(InboundMessage(message_sid=f"SMseg{i:05d}", from_phone=phone, to=sender.address,
                                       body="hi", classification="other", received_at=received))
            person.replied_at.append(received)
        if i % 4 == 3:  # a tracked link of the earlier campaign: opened by the person, or only previewed
            message = Message(campaign_id=linked.id, subscriber_id=subscriber.id, to=phone, state="delivered",
                              sent_at=NOW - timedelta(days=60))
            session.add(message)
            await session.flush()
            person.received_at.append(message.sent_at)
            clicked = NOW - timedelta(days=(i % 45) + 1)
            human = i % 8 == 3
            session.add(LinkClick(token=f"tok{i:05d}", campaign_id=linked.id, message_id=message.id,
                                  subscriber_id=subscriber.id, position=0, clicked_at=clicked,
                                  kind="human" if human else "bot"))
            if human:
                person.clicked_at.append(clicked)
        people.append(person)
    await session.flush()
    return {"list_id": target.id, "other_list_id": other.id, "people": people, "user": user, "sender": sender}


# --- the reference: the grammar's meaning, one person at a time -------------------------------------

def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return value


def _number(text: str | None) -> float | None:
    return float(text) if text is not None and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text) else None


def _date(text: str | None) -> str | None:
    return text[:10] if text is not None and re.match(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text) else None


def _equals(text: str | None, value) -> bool:
    if text is None:
        return False
    if isinstance(value, bool):
        return text == ("true" if value else "false")
    if isinstance(value, int | float):
        return _number(text) == float(value)
    return text == value


def passes(node: f.Node, person: Person, now: datetime = NOW) -> bool:
    match node:
        case f.All(children):
            return all(passes(c, person, now) for c in children)
        case f.AnyOf(children):
            return any(passes(c, person, now) for c in children)
        case f.Not(child):
            return not passes(child, person, now)
        case f.TimeZone(zones):
            return person.time_zone in zones
        case f.Region(states):
            return person.us_state in states
        case f.Joined(after, before):
            return (after is None or person.consented_at >= after) and (before is None or person.consented_at < before)
        case f.Received(days):
            return any(at >= now - timedelta(days=days) for at in person.received_at)
        case f.Replied(days):
            return any(at >= now - timedelta(days=days) for at in person.replied_at)
        case f.Clicked(days):
            return any(at >= now - timedelta(days=days) for at in person.clicked_at)
        case f.Attribute(key, op, value):
            text = _text(person.attributes.get(key))
            if op == "exists":
                return (text is not None) == value
            if op == "eq":
                return _equals(text, value)
            if op == "ne":
                return text is not None and not _equals(text, value)
            if op == "in":
                return any(_equals(text, v) for v in value)
            if op == "contains":
                return text is not None and value in text
            if isinstance(value, date):
                left, right = _date(text), value.isoformat()
            else:
                left, right = _number(text), float(value)
            return left is not None and (left < right if op == "lt" else left > right)
    raise TypeError(node)


def expected(world: dict, filter_json: dict | None) -> set[str]:
    node = f.parse(filter_json) if filter_json else None
    return {p.id for p in world["people"] if p.sendable and (node is None or passes(node, p))}
