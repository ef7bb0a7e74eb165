"""The sender lifecycle, as a table (docs/design.md, "Lifecycles"). Pure: no I/O.

    pending  → verified (the provider confirms it, or a second admin confirms an alphanumeric ID)
    pending  → unregistered (owned, but the carriers' registration is pending, missing or rejected)
    unregistered → verified (the registration is approved; the hourly re-check sees it) | revoked
    verified → suspended (the provider no longer confirms it, or the registration was withdrawn) | revoked
    suspended → verified (the provider confirms it again) | revoked
    pending  → revoked

The states themselves are ``app.vocab.sender.SenderState``.
"""

from __future__ import annotations

from app.statemachine import IllegalTransition, Transitions
from app.vocab.sender import SenderState as S

__all__ = ["IllegalTransition", "can_move", "check_move"]

TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.VERIFIED, S.UNREGISTERED, S.REVOKED}),
    S.UNREGISTERED: frozenset({S.VERIFIED, S.REVOKED}),
    S.VERIFIED: frozenset({S.SUSPENDED, S.REVOKED}),
    S.SUSPENDED: frozenset({S.VERIFIED, S.REVOKED}),
    S.REVOKED: frozenset(),
}


_TABLE = Transitions("sender", TRANSITIONS)
can_move = _TABLE.can_move
check_move = _TABLE.check_move
