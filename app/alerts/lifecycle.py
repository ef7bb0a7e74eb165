"""The alert lifecycle, as a table (docs/design.md, "Lifecycles"). Pure: no I/O.

    open → acknowledged → resolved;  open → resolved

The states themselves are ``app.vocab.alert.AlertState``; ``app.alerts.service._move`` applies the table.
"""

from __future__ import annotations

from app.statemachine import IllegalTransition, Transitions
from app.vocab.alert import AlertState as S

__all__ = ["IllegalTransition", "can_move", "check_move"]

TRANSITIONS: dict[str, frozenset[str]] = {
    S.OPEN: frozenset({S.ACKNOWLEDGED, S.RESOLVED}),
    S.ACKNOWLEDGED: frozenset({S.RESOLVED}),
    S.RESOLVED: frozenset(),
}

_TABLE = Transitions("alert", TRANSITIONS)
can_move = _TABLE.can_move
check_move = _TABLE.check_move
