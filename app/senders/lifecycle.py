"""The sender lifecycle, as a table (DESIGN.md "Lifecycles"). Pure: no I/O.

    pending  → verified (the provider confirms it, or a second admin confirms an alphanumeric ID)
    verified → suspended (the provider no longer confirms it) | revoked (by an admin)
    suspended → verified (the provider confirms it again) | revoked
    pending  → revoked
"""

from __future__ import annotations

PENDING, VERIFIED, SUSPENDED, REVOKED = "pending", "verified", "suspended", "revoked"
STATES = (PENDING, VERIFIED, SUSPENDED, REVOKED)

TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({VERIFIED, REVOKED}),
    VERIFIED: frozenset({SUSPENDED, REVOKED}),
    SUSPENDED: frozenset({VERIFIED, REVOKED}),
    REVOKED: frozenset(),
}


class IllegalTransition(Exception):
    def __init__(self, current: str, target: str):
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing (final state)"
        super().__init__(f"a {current} sender cannot become {target}; from {current} it can become: {allowed}")
        self.current, self.target = current, target


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS[current]


def check_move(current: str, target: str) -> None:
    if not can_move(current, target):
        raise IllegalTransition(current, target)
