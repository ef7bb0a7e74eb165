"""The sender lifecycle, as a table (DESIGN.md "Lifecycles"). Pure: no I/O.

    pending  → verified (the provider confirms it, or a second admin confirms an alphanumeric ID)
    verified → suspended (the provider no longer confirms it) | revoked (by an admin)
    suspended → verified (the provider confirms it again) | revoked
    pending  → revoked
"""

from __future__ import annotations

from app.statemachine import IllegalTransition, Transitions

__all__ = ["IllegalTransition", "can_move", "check_move"]

PENDING, VERIFIED, SUSPENDED, REVOKED = "pending", "verified", "suspended", "revoked"
STATES = (PENDING, VERIFIED, SUSPENDED, REVOKED)

TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({VERIFIED, REVOKED}),
    VERIFIED: frozenset({SUSPENDED, REVOKED}),
    SUSPENDED: frozenset({VERIFIED, REVOKED}),
    REVOKED: frozenset(),
}


_TABLE = Transitions("sender", TRANSITIONS)
can_move = _TABLE.can_move
check_move = _TABLE.check_move
