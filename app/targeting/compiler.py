"""A filter tree (``app.targeting.filters``) as a SQL condition over ``Subscriber`` and ``Subscription``.

Nothing from the filter reaches the SQL text: attribute names, values, zones and bounds are all
bound parameters; the statement's shape comes from the tree's node kinds alone. ``audience_condition``
is the only way a filter reaches a query, and it is ``sendable_condition AND filter``: a filter only
ever removes people (docs/design.md, invariant 2).

Every leaf is two-valued (a missing attribute makes a comparison false, never NULL), so ``not``
means what it says: ``{"not": {"attribute": "city", "op": "eq", "value": "Austin"}}`` includes the
people with no city.

Attributes are a ``json`` column on PostgreSQL and JSON text on SQLite; both are read by the same
rules:

- the *text form* of an attribute is its text, a number as written, ``true``/``false`` for a
  boolean, and nothing for a missing key or null;
- its *number* is the text form when it reads ``-?digits(.digits)?`` (a JSON number or numeric text,
  as a CSV import stores it);
- its *date* is the first ten characters of the text form when they read ``YYYY-MM-DD`` (compared as
  text in the C collation, which orders such dates by time).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import (
    Float,
    String,
    and_,
    bindparam,
    case,
    cast,
    collate,
    false,
    func,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.sql.elements import ColumnElement

from app.audience.consent import sendable_condition
from app.models import ConsentEvent, InboundMessage, LinkClick, Message, Subscriber, Subscription
from app.targeting import filters as f
from app.vocab.link import ClickKind
from app.vocab.message import MessageState

_NUMBER_PG = r"^-?[0-9]+(\.[0-9]+)?$"
_DATE_PG = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
_DATE_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*"
RECEIVED = (MessageState.SENT.value, MessageState.DELIVERED.value)


def audience_condition(list_ids, filter_json: dict | None, *, dialect: str, now: datetime) -> ColumnElement[bool]:
    """Consent (``sendable_condition``) AND the filter, over ``Subscriber``/``Subscription``.

    ``filter_json`` is a normalised filter (as stored), or None for the whole of the lists. ``now``
    anchors the engagement windows (``received_within_days``, ``replied_within_days``,
    ``clicked_within_days``).
    """
    consent = sendable_condition(list_ids)
    if not filter_json:
        return consent
    return and_(consent, condition(f.parse(filter_json), dialect=dialect, now=now))


def condition(node: f.Node, *, dialect: str, now: datetime) -> ColumnElement[bool]:
    return _Compiler(dialect, now).node(node)


class _Compiler:
    def __init__(self, dialect: str, now: datetime):
        self.pg = dialect == "postgresql"
        self.now = now

    def node(self, node: f.Node) -> ColumnElement[bool]:
        match node:
            case f.All(children):
                return and_(*(self.node(c) for c in children))
            case f.AnyOf(children):
                return or_(*(self.node(c) for c in children))
            case f.Not(child):
                return not_(self.node(child))
            case f.Attribute():
                return _two_valued(self.attribute(node))
            case f.TimeZone(zones):
                return _two_valued(Subscriber.time_zone.in_(zones))
            case f.Region(states):
                return _two_valued(Subscriber.us_state.in_(states))
            case f.Joined(after, before):
                return self.joined(after, before)
            case f.Received(days):
                return (select(Message.id).where(
                    Message.subscriber_id == Subscriber.id, Message.state.in_(RECEIVED),
                    Message.sent_at >= self.now - timedelta(days=days)).correlate(Subscriber).exists())
            case f.Replied(days):
                return (select(InboundMessage.id).where(
                    InboundMessage.from_phone == Subscriber.phone,
                    InboundMessage.received_at >= self.now - timedelta(days=days)).correlate(Subscriber).exists())
            case f.Clicked(days):  # along ix_link_click_subscriber_at; previewers' fetches never count
                return (select(LinkClick.id).where(
                    LinkClick.subscriber_id == Subscriber.id, LinkClick.kind == ClickKind.HUMAN,
                    LinkClick.clicked_at >= self.now - timedelta(days=days)).correlate(Subscriber).exists())
        raise TypeError(f"not a filter node: {node!r}")

    def joined(self, after: datetime | None, before: datetime | None) -> ColumnElement[bool]:
        bounds = []
        if after is not None:
            bounds.append(ConsentEvent.consented_at >= after)
        if before is not None:
            bounds.append(ConsentEvent.consented_at < before)
        return (select(ConsentEvent.id).where(ConsentEvent.id == Subscription.consent_event_id, *bounds)
                .correlate(Subscription).exists())

    # --- attributes -------------------------------------------------------------------------

    def text(self, key: str) -> ColumnElement[str]:
        attributes = Subscriber.__table__.c.attributes
        if self.pg:
            return func.json_extract_path_text(attributes, bindparam(None, key, type_=String), type_=String)
        path = bindparam(None, f'$."{key}"', type_=String)  # key matches [\w-]+ (filters.ATTRIBUTE_KEY)
        kind = func.json_type(attributes, path, type_=String)
        return case((kind.in_(("true", "false")), kind),
                    else_=cast(func.json_extract(attributes, path), String))

    def number(self, text: ColumnElement[str]) -> ColumnElement[float]:
        if self.pg:
            numeric = text.regexp_match(_NUMBER_PG)
        else:  # the same shape as _NUMBER_PG, in GLOBs: an optional '-', digits, at most one inner '.'
            body = case((func.substr(text, 1, 1) == "-", func.substr(text, 2)), else_=text)
            numeric = and_(_glob(body, "[0-9]*"), _glob(body, "*[0-9]"),
                           not_(_glob(body, "*[^0-9.]*")), not_(_glob(body, "*.*.*")))
        return case((numeric, cast(text, Float)))

    def date(self, text: ColumnElement[str]) -> ColumnElement[str]:
        shaped = text.regexp_match(_DATE_PG) if self.pg else _glob(text, _DATE_GLOB)
        day = case((shaped, func.substr(text, 1, 10)))
        return collate(day, "C") if self.pg else day

    def equals(self, text: ColumnElement[str], value: f.Scalar) -> ColumnElement[bool]:
        if isinstance(value, bool):
            return text == ("true" if value else "false")
        if isinstance(value, int | float):
            return self.number(text) == bindparam(None, float(value), type_=Float)
        return text == bindparam(None, value, type_=String)

    def attribute(self, node: f.Attribute) -> ColumnElement[bool]:
        text, value = self.text(node.key), node.value
        match node.op:
            case "exists":
                return text.is_not(None) if value else text.is_(None)
            case "eq":
                return self.equals(text, value)
            case "ne":
                return and_(text.is_not(None), not_(_two_valued(self.equals(text, value))))
            case "in":
                return or_(*(self.equals(text, v) for v in value))
            case "contains":
                needle = bindparam(None, value, type_=String)
                return (func.strpos(text, needle) if self.pg else func.instr(text, needle)) > 0
            case "lt" | "gt":
                if isinstance(value, int | float):
                    left, right = self.number(text), bindparam(None, float(value), type_=Float)
                else:
                    left, right = self.date(text), bindparam(None, value.isoformat(), type_=String)
                return left < right if node.op == "lt" else left > right
        raise TypeError(f"unknown operator {node.op!r}")


def _glob(text: ColumnElement[str], pattern: str) -> ColumnElement[bool]:
    """SQLite's GLOB (native, unlike REGEXP, which would call back into Python for every row)."""
    return text.op("GLOB", is_comparison=True)(bindparam(None, pattern, type_=String))


def _two_valued(expression: ColumnElement[bool]) -> ColumnElement[bool]:
    """True or false, never NULL: a NULL under ``not`` would drop the row both ways."""
    return func.coalesce(expression, false()) if expression is not None else true()
