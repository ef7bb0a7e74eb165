"""The campaign transition table, walked whole: every allowed move and every refused one."""

from __future__ import annotations

import itertools

import pytest

from app.campaigns import lifecycle as lc
from app.vocab.campaign import CampaignState

ALLOWED = {
    ("draft", "in_review"), ("draft", "cancelled"),
    ("in_review", "approved"), ("in_review", "changes_requested"), ("in_review", "draft"), ("in_review", "cancelled"),
    ("changes_requested", "draft"), ("changes_requested", "in_review"), ("changes_requested", "cancelled"),
    ("approved", "scheduled"), ("approved", "sending"), ("approved", "draft"), ("approved", "cancelled"),
    ("scheduled", "sending"), ("scheduled", "paused"), ("scheduled", "draft"), ("scheduled", "cancelled"),
    ("sending", "paused"), ("sending", "completed"), ("sending", "cancelled"),
    ("paused", "sending"), ("paused", "scheduled"), ("paused", "cancelled"),
}


@pytest.mark.parametrize(("current", "target"), sorted(itertools.product(CampaignState, repeat=2)))
def test_transition_table(current, target):
    assert lc.can_move(current, target) == ((current, target) in ALLOWED)
    if (current, target) in ALLOWED:
        lc.check_move(current, target)
    else:
        with pytest.raises(lc.IllegalTransition, match=f"a {current} campaign cannot move to {target}"):
            lc.check_move(current, target)


def test_nothing_leaves_a_final_state():
    assert lc.TRANSITIONS["completed"] == frozenset() and lc.TRANSITIONS["cancelled"] == frozenset()


def test_sending_is_reachable_only_through_approval():
    reach_sending_from = {c for c, t in ALLOWED if t == "sending"}
    assert reach_sending_from == {"approved", "scheduled", "paused"}
    assert {c for c, t in ALLOWED if t == "scheduled"} == {"approved", "paused"}

