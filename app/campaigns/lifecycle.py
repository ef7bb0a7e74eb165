"""The campaign lifecycle as one table (DESIGN.md "Lifecycles"). Pure: no I/O.

    draft → in_review → approved | changes_requested → scheduled → sending → completed
    paused (by ops or the spike guard) → sending again (or scheduled, if it was paused before its
    time came), or cancelled

Editing content is a move too: any edit of a campaign in review or approved (or scheduled) voids
the review and returns it to draft. ``move`` is the only function that changes ``status``.
"""

from __future__ import annotations

from app.statemachine import IllegalTransition, Transitions

__all__ = ["IllegalTransition", "can_move", "check_move"]

DRAFT, IN_REVIEW, APPROVED, CHANGES_REQUESTED = "draft", "in_review", "approved", "changes_requested"
SCHEDULED, SENDING, PAUSED, COMPLETED, CANCELLED = "scheduled", "sending", "paused", "completed", "cancelled"
STATUSES = (DRAFT, IN_REVIEW, APPROVED, CHANGES_REQUESTED, SCHEDULED, SENDING, PAUSED, COMPLETED, CANCELLED)

TRANSITIONS: dict[str, frozenset[str]] = {
    DRAFT: frozenset({IN_REVIEW, CANCELLED}),
    IN_REVIEW: frozenset({APPROVED, CHANGES_REQUESTED, DRAFT, CANCELLED}),
    CHANGES_REQUESTED: frozenset({DRAFT, IN_REVIEW, CANCELLED}),
    APPROVED: frozenset({SCHEDULED, SENDING, DRAFT, CANCELLED}),
    SCHEDULED: frozenset({SENDING, PAUSED, DRAFT, CANCELLED}),
    SENDING: frozenset({PAUSED, COMPLETED, CANCELLED}),
    PAUSED: frozenset({SENDING, SCHEDULED, CANCELLED}),
    COMPLETED: frozenset(),
    CANCELLED: frozenset(),
}

#: Where content may still be edited; an edit moves the campaign to draft (voiding any approval).
EDITABLE = frozenset({DRAFT, IN_REVIEW, CHANGES_REQUESTED, APPROVED, SCHEDULED})


_TABLE = Transitions("campaign", TRANSITIONS)
can_move = _TABLE.can_move
check_move = _TABLE.check_move
