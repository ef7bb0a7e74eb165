"""Audience filters (segments): the JSON grammar, parsed into a typed tree, checked, normalised.

Pure: no I/O, no SQL. ``parse`` turns what a marketer sent into a tree of nodes or raises
``FilterError`` naming the JSON path of the bad node (``filter.all[1].op``); ``normal`` gives the
canonical JSON of a tree (what is stored, hashed into the approval and parsed again at launch).
``app.targeting.compiler`` turns a tree into a SQL condition, always AND-ed with consent: a filter
only ever removes people from an audience (docs/design.md, invariant 2).

The grammar (each node one JSON object; docs/api.md, "Segments"):

    {"all": [F, …]}  {"any": [F, …]}  {"not": F}
    {"attribute": "city", "op": "eq" | "ne" | "in" | "exists" | "lt" | "gt" | "contains", "value": …}
    {"time_zone": "America/Chicago" | [...]}        {"region": "TX" | [...]}   (US state)
    {"joined": {"after": "2026-01-01", "before": "2026-07-01T00:00:00Z"}}
    {"received_within_days": 30}                    {"replied_within_days": 7}
    {"clicked_within_days": 30}                     (a person, not a link previewer, opened a tracked link)
"""

from __future__ import annotations

import json
import math
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Union

from app.audience.attributes import MAX_VALUE

MAX_DEPTH = 8  # levels of nodes, the root being the first
MAX_NODES = 200
MAX_CHILDREN = 50
MAX_IN_VALUES = 100
MAX_DAYS = 3650

ATTRIBUTE_OPS = ("eq", "ne", "in", "exists", "lt", "gt", "contains")
#: The keys a placeholder may name (``{attributes.<key>}``): the same keys a filter may test.
ATTRIBUTE_KEY = re.compile(r"[\w-]{1,64}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_REGION = re.compile(r"[A-Z]{2}")
_KINDS = ("all", "any", "not", "attribute", "time_zone", "region", "joined", "received_within_days",
          "replied_within_days", "clicked_within_days")

Scalar = str | int | float | bool


class FilterError(ValueError):
    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path, self.message = path, message


@dataclass(frozen=True)
class All:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class Attribute:
    """``value``: a scalar (eq, ne, contains, lt, gt), a tuple of scalars (in), a bool (exists).
    lt/gt compare numbers, or dates when ``value`` is a ``date``."""

    key: str
    op: str
    value: Any


@dataclass(frozen=True)
class TimeZone:
    zones: tuple[str, ...]


@dataclass(frozen=True)
class Region:
    states: tuple[str, ...]


@dataclass(frozen=True)
class Joined:
    """The consent that puts the subscriber on one of the campaign's lists: at or after ``after``,
    strictly before ``before``."""

    after: datetime | None
    before: datetime | None


@dataclass(frozen=True)
class Received:
    """Was sent a campaign message (sent or delivered) in the last ``days`` days."""

    days: int


@dataclass(frozen=True)
class Replied:
    """Texted the company (any inbound message) in the last ``days`` days."""

    days: int


@dataclass(frozen=True)
class Clicked:
    """Opened a tracked link of a campaign (a human click, never a previewer's) in the last ``days`` days."""

    days: int


Node = Union[All, AnyOf, Not, Attribute, TimeZone, Region, Joined, Received, Replied, Clicked]  # noqa: UP007


def parse(raw: Any, path: str = "filter") -> Node:
    """The tree of ``raw``, or FilterError at the first bad node (unknown kind or operator, wrong
    type, nested deeper than MAX_DEPTH, more than MAX_NODES nodes)."""
    counter = [0]
    return _node(raw, path, 1, counter)


def normal(node: Node) -> dict:
    """The canonical JSON of ``node``: what is stored and hashed; ``parse(normal(n)) == n``."""
    match node:
        case All(children):
            return {"all": [normal(c) for c in children]}
        case AnyOf(children):
            return {"any": [normal(c) for c in children]}
        case Not(child):
            return {"not": normal(child)}
        case Attribute(key, op, value):
            if op == "in":
                value = list(value)
            elif isinstance(value, date):
                value = value.isoformat()
            return {"attribute": key, "op": op, "value": value}
        case TimeZone(zones):
            return {"time_zone": list(zones)}
        case Region(states):
            return {"region": list(states)}
        case Joined(after, before):
            bounds = {"after": after, "before": before}
            return {"joined": {k: _iso(v) for k, v in bounds.items() if v is not None}}
        case Received(days):
            return {"received_within_days": days}
        case Replied(days):
            return {"replied_within_days": days}
        case Clicked(days):
            return {"clicked_within_days": days}
    raise TypeError(f"not a filter node: {node!r}")


def normalise(raw: Any, path: str = "filter") -> dict:
    return normal(parse(raw, path))


def canonical(filter_json: dict) -> str:
    return json.dumps(filter_json, sort_keys=True, separators=(",", ":"))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _node(raw: Any, path: str, depth: int, counter: list[int]) -> Node:
    if depth > MAX_DEPTH:
        raise FilterError(path, f"filters may nest at most {MAX_DEPTH} levels deep")
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise FilterError(path, f"a filter has at most {MAX_NODES} nodes")
    if not isinstance(raw, dict):
        raise FilterError(path, f"a filter node is a JSON object, not {_describe(raw)}")
    kinds = [k for k in raw if k in _KINDS]
    if len(kinds) != 1:
        unknown = [k for k in raw if k not in _KINDS and k not in ("op", "value")]
        if unknown:
            raise FilterError(f"{path}.{unknown[0]}", f"unknown filter {unknown[0]!r}; one of {', '.join(_KINDS)}")
        raise FilterError(path, "a filter node has exactly one of " + ", ".join(_KINDS)
                          + (f" (this one has {', '.join(kinds)})" if kinds else ""))
    kind = kinds[0]
    allowed = {kind, "op", "value"} if kind == "attribute" else {kind}
    extra = [k for k in raw if k not in allowed]
    if extra:
        raise FilterError(f"{path}.{extra[0]}", f"{extra[0]!r} does not belong in a {kind!r} node")
    body, here = raw[kind], f"{path}.{kind}"
    if kind in ("all", "any"):
        if not isinstance(body, list) or not body:
            raise FilterError(here, f"{kind!r} takes a non-empty list of filters")
        if len(body) > MAX_CHILDREN:
            raise FilterError(here, f"{kind!r} takes at most {MAX_CHILDREN} filters")
        children = tuple(_node(c, f"{here}[{i}]", depth + 1, counter) for i, c in enumerate(body))
        return All(children) if kind == "all" else AnyOf(children)
    if kind == "not":
        return Not(_node(body, here, depth + 1, counter))
    if kind == "attribute":
        return _attribute(raw, path)
    if kind == "time_zone":
        return TimeZone(_names(body, here, _zone))
    if kind == "region":
        return Region(_names(body, here, _region))
    if kind == "joined":
        return _joined(body, here)
    if isinstance(body, bool) or not isinstance(body, int) or not 1 <= body <= MAX_DAYS:
        raise FilterError(here, f"a whole number of days from 1 to {MAX_DAYS}")
    return {"received_within_days": Received, "replied_within_days": Replied, "clicked_within_days": Clicked}[kind](body)


def _attribute(raw: dict, path: str) -> Attribute:
    key = raw["attribute"]
    if not isinstance(key, str) or not ATTRIBUTE_KEY.fullmatch(key):
        raise FilterError(f"{path}.attribute", "an attribute name: 1 to 64 letters, digits, '_' or '-'")
    op = raw.get("op")
    if op not in ATTRIBUTE_OPS:
        raise FilterError(f"{path}.op", f"unknown operator {op!r}; one of {', '.join(ATTRIBUTE_OPS)}"
                          if op is not None else f"an attribute filter needs an op: one of {', '.join(ATTRIBUTE_OPS)}")
    here = f"{path}.value"
    if op == "exists":
        value = raw.get("value", True)
        if not isinstance(value, bool):
            raise FilterError(here, f"'exists' takes true or false, not {_describe(value)}")
        return Attribute(key, op, value)
    if "value" not in raw:
        raise FilterError(here, f"{op!r} needs a value")
    value = raw["value"]
    if op in ("eq", "ne"):
        return Attribute(key, op, _scalar(value, here, op))
    if op == "in":
        if not isinstance(value, list) or not value:
            raise FilterError(here, "'in' takes a non-empty list of text, numbers or booleans")
        if len(value) > MAX_IN_VALUES:
            raise FilterError(here, f"'in' takes at most {MAX_IN_VALUES} values")
        items = {json.dumps(_scalar(v, f"{here}[{i}]", op)): v for i, v in enumerate(value)}
        return Attribute(key, op, tuple(items[k] for k in sorted(items)))
    if op == "contains":
        if not isinstance(value, str) or not value:
            raise FilterError(here, f"'contains' takes non-empty text, not {_describe(value)}")
        return Attribute(key, op, _text(value, here))
    # lt, gt: a number, or a date
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Attribute(key, op, _number(value, here))
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return Attribute(key, op, date.fromisoformat(value))
        except ValueError:
            raise FilterError(here, f"{value!r} is not a date") from None
    raise FilterError(here, f"{op!r} compares numbers or dates (YYYY-MM-DD), not {_describe(value)}"
                      + (f" {value!r}" if isinstance(value, str) else ""))


def _scalar(value: Any, path: str, op: str) -> Scalar:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return _number(value, path)
    if isinstance(value, str):
        return _text(value, path)
    raise FilterError(path, f"{op!r} compares text, a number or a boolean, not {_describe(value)}")


def _number(value: int | float, path: str) -> int | float:
    if isinstance(value, float) and not math.isfinite(value):
        raise FilterError(path, "numbers must be finite")
    if abs(value) > 1e15:
        raise FilterError(path, "numbers must be within ±10^15")
    return value


def _text(value: str, path: str) -> str:
    if len(value) > MAX_VALUE:
        raise FilterError(path, f"at most {MAX_VALUE} characters (an attribute holds no more)")
    return value


def _names(body: Any, path: str, check) -> tuple[str, ...]:
    items = [body] if isinstance(body, str) else body
    if not isinstance(items, list) or not items:
        raise FilterError(path, "a name or a non-empty list of names")
    if len(items) > MAX_IN_VALUES:
        raise FilterError(path, f"at most {MAX_IN_VALUES} names")
    names = set()
    for i, item in enumerate(items):
        here = path if isinstance(body, str) else f"{path}[{i}]"
        if not isinstance(item, str):
            raise FilterError(here, f"a name, not {_describe(item)}")
        names.add(check(item, here))
    return tuple(sorted(names))


def _zone(name: str, path: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise FilterError(path, f"{name[:64]!r} is not an IANA time zone (such as America/Chicago)") from None
    return name


def _region(name: str, path: str) -> str:
    code = name.strip().upper()
    if not _REGION.fullmatch(code):
        raise FilterError(path, f"{name[:16]!r} is not a two-letter US state code (such as TX)")
    return code


def _joined(body: Any, path: str) -> Joined:
    if not isinstance(body, dict) or not body:
        raise FilterError(path, "'joined' takes an object with 'after', 'before' or both")
    extra = [k for k in body if k not in ("after", "before")]
    if extra:
        raise FilterError(f"{path}.{extra[0]}", f"{extra[0]!r} is not a bound; 'after' or 'before'")
    bounds = {k: _moment(v, f"{path}.{k}") for k, v in body.items()}
    after, before = bounds.get("after"), bounds.get("before")
    if after is not None and before is not None and after >= before:
        raise FilterError(path, "'after' must be earlier than 'before'")
    return Joined(after, before)


def _moment(value: Any, path: str) -> datetime:
    """A date (midnight UTC) or an ISO 8601 timestamp with a zone."""
    if not isinstance(value, str):
        raise FilterError(path, f"a date (YYYY-MM-DD) or a timestamp with a zone, not {_describe(value)}")
    try:
        if _DATE.fullmatch(value):
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(path, f"{value[:40]!r} is not a date (YYYY-MM-DD) or an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise FilterError(path, f"{value[:40]!r} has no time zone; add Z or an offset")
    if not 1970 <= moment.year <= 2200:
        raise FilterError(path, "the year must be between 1970 and 2200")
    return moment.astimezone(UTC)
