"""The campaign lifecycle as one table (docs/design.md, "Lifecycles"). Pure: no I/O.

    draft → in_review → approved | changes_requested → scheduled → sending → completed
    paused (by ops or the spike guard) → sending again (or scheduled, if it was paused before its
    time came), or cancelled

Editing content is a move too: any edit of a campaign in review or approved (or scheduled) voids
the review and returns it to draft. ``move`` is the only function that changes ``state``.
The states themselves are ``app.vocab.campaign.CampaignState``.
"""

from __future__ import annotations

from app.statemachine import IllegalTransition, Transitions
from app.vocab.campaign import CampaignState as S

__all__ = ["IllegalTransition", "can_move", "check_move"]

TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.IN_REVIEW, S.CANCELLED}),
    S.IN_REVIEW: frozenset({S.APPROVED, S.CHANGES_REQUESTED, S.DRAFT, S.CANCELLED}),
    S.CHANGES_REQUESTED: frozenset({S.DRAFT, S.IN_REVIEW, S.CANCELLED}),
    S.APPROVED: frozenset({S.SCHEDULED, S.SENDING, S.DRAFT, S.CANCELLED}),
    S.SCHEDULED: frozenset({S.SENDING, S.PAUSED, S.DRAFT, S.CANCELLED}),
    S.SENDING: frozenset({S.PAUSED, S.COMPLETED, S.CANCELLED}),
    S.PAUSED: frozenset({S.SENDING, S.SCHEDULED, S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
}

#: Where content may still be edited; an edit moves the campaign to draft (voiding any approval).
EDITABLE = frozenset({S.DRAFT, S.IN_REVIEW, S.CHANGES_REQUESTED, S.APPROVED, S.SCHEDULED})


_TABLE = Transitions("campaign", TRANSITIONS)
can_move = _TABLE.can_move
check_move = _TABLE.check_move
