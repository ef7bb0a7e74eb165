"""The filter grammar (app/targeting/filters.py): bad nodes are named by their JSON path; the normal
form is stable."""

from __future__ import annotations

import pytest

from app.targeting import filters
from app.targeting.filters import FilterError


def error_of(raw) -> FilterError:
    with pytest.raises(FilterError) as caught:
        filters.parse(raw)
    return caught.value


@pytest.mark.parametrize(("raw", "path", "words"), [
    ({"attribute": "city", "op": "like", "value": "A%"}, "filter.op", "unknown operator 'like'"),
    ({"all": [{"region": "TX"}, {"attribute": "city", "op": "regex", "value": "."}]}, "filter.all[1].op",
     "unknown operator"),
    ({"attribute": "city"}, "filter.op", "needs an op"),
    ({"attribute": "age", "op": "lt", "value": "abc"}, "filter.value", "numbers or dates"),
    ({"attribute": "age", "op": "gt", "value": True}, "filter.value", "numbers or dates"),
    ({"attribute": "day", "op": "lt", "value": "2026-02-30"}, "filter.value", "not a date"),
    ({"attribute": "city", "op": "eq", "value": {"a": 1}}, "filter.value", "not an object"),
    ({"attribute": "city", "op": "eq"}, "filter.value", "needs a value"),
    ({"attribute": "city", "op": "in", "value": []}, "filter.value", "non-empty list"),
    ({"attribute": "city", "op": "in", "value": ["a", ["b"]]}, "filter.value[1]", "not a list"),
    ({"attribute": "city", "op": "exists", "value": "yes"}, "filter.value", "true or false"),
    ({"attribute": "city", "op": "contains", "value": ""}, "filter.value", "non-empty text"),
    ({"attribute": "ci ty", "op": "exists"}, "filter.attribute", "attribute name"),
    ({"attribute": "city", "op": "eq", "value": "x", "extra": 1}, "filter.extra", "does not belong"),
    ({"sql": "1=1"}, "filter.sql", "unknown filter 'sql'"),
    ({"region": "TX", "time_zone": "America/Chicago"}, "filter", "exactly one"),
    ({}, "filter", "exactly one"),
    ([], "filter", "JSON object"),
    ({"any": []}, "filter.any", "non-empty list"),
    ({"not": {"region": "Texas"}}, "filter.not.region", "two-letter US state"),
    ({"time_zone": ["America/Chicago", "Mars/Base"]}, "filter.time_zone[1]", "IANA time zone"),
    ({"joined": {"after": "2026-01-01", "before": "2025-01-01"}}, "filter.joined", "earlier than"),
    ({"joined": {"after": "2026-01-01T10:00:00"}}, "filter.joined.after", "no time zone"),
    ({"joined": {"since": "2026-01-01"}}, "filter.joined.since", "not a bound"),
    ({"received_within_days": 0}, "filter.received_within_days", "whole number of days"),
    ({"replied_within_days": 7.5}, "filter.replied_within_days", "whole number of days"),
    ({"replied_within_days": True}, "filter.replied_within_days", "whole number of days"),
    ({"clicked_within_days": 0}, "filter.clicked_within_days", "whole number of days"),
    ({"clicks_within_days": 7}, "filter.clicks_within_days", "unknown filter"),
])
def test_a_bad_node_is_named_by_its_path(raw, path, words):
    error = error_of(raw)
    assert error.path == path
    assert words in error.message


def nested(depth: int) -> dict:
    node: dict = {"region": "TX"}
    for _ in range(depth - 1):
        node = {"not": node}
    return node


def test_depth_is_at_most_eight():
    filters.parse(nested(8))
    error = error_of(nested(9))
    assert error.path == "filter" + ".not" * 8
    assert "at most 8 levels" in error.message
    deep_all = {"all": [{"all": [nested(6)]}]}  # 2 + 6 = 8 levels
    filters.parse(deep_all)
    assert error_of({"all": [{"any": [nested(7)]}]}).path.startswith("filter.all[0].any[0].not")


def test_the_number_of_nodes_is_bounded():
    wide = {"all": [{"any": [{"region": "TX"}] * 10}] * 20}
    assert "at most 200 nodes" in error_of(wide).message
    assert "at most 50" in error_of({"all": [{"region": "TX"}] * 51}).message


def test_normal_form():
    raw = {"all": [
        {"region": ["tx", "CA", "TX"]},
        {"time_zone": "America/Chicago"},
        {"attribute": "city", "op": "in", "value": ["b", "a", "b", 1]},
        {"attribute": "city", "op": "exists"},
        {"attribute": "day", "op": "lt", "value": "2026-01-05"},
        {"joined": {"after": "2026-01-01", "before": "2026-03-01T12:00:00+02:00"}},
        {"not": {"received_within_days": 30}},
    ]}
    normal = filters.normalise(raw)
    assert normal == {"all": [
        {"region": ["CA", "TX"]},
        {"time_zone": ["America/Chicago"]},
        {"attribute": "city", "op": "in", "value": ["a", "b", 1]},  # unique, by their JSON
        {"attribute": "city", "op": "exists", "value": True},
        {"attribute": "day", "op": "lt", "value": "2026-01-05"},
        {"joined": {"after": "2026-01-01T00:00:00Z", "before": "2026-03-01T10:00:00Z"}},
        {"not": {"received_within_days": 30}},
    ]}
    assert filters.normalise(normal) == normal
    assert filters.parse(normal) == filters.parse(raw)
