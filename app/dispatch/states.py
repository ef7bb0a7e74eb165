"""Message states and the one rule for status callbacks: monotonic. Pure: no I/O.

    queued → sending → sent → delivered | undelivered | failed;  or skipped (with the reason)

Twilio's callbacks arrive out of order and more than once; a later-ranked status wins and a final
one (delivered, undelivered, failed) is never replaced — delivered never goes back to sent.
"""

from __future__ import annotations

QUEUED, SENDING, SENT, DELIVERED, UNDELIVERED, FAILED, SKIPPED = (
    "queued", "sending", "sent", "delivered", "undelivered", "failed", "skipped")
FINAL = frozenset({DELIVERED, UNDELIVERED, FAILED, SKIPPED})

#: Twilio's MessageStatus values mapped to ours.
PROVIDER_STATUS = {
    "accepted": SENDING, "scheduled": SENDING, "queued": SENDING, "sending": SENDING,
    "sent": SENT, "delivered": DELIVERED, "read": DELIVERED,
    "undelivered": UNDELIVERED, "failed": FAILED, "canceled": FAILED,
}
RANK = {QUEUED: 0, SENDING: 1, SENT: 2, DELIVERED: 3, UNDELIVERED: 3, FAILED: 3, SKIPPED: 3}


def advance(current: str, reported: str) -> str:
    """The state after a provider reports ``reported`` for a message now in ``current``."""
    target = PROVIDER_STATUS.get(reported.lower())
    if target is None or current in FINAL:
        return current
    return target if RANK[target] > RANK[current] else current


def forward_moves(reported: str) -> tuple[str | None, tuple[str, ...]]:
    """``advance`` as a set: the state ``reported`` moves a message to, and every state it moves one
    from (the rest stay put). For a single conditional UPDATE that cannot move a message back."""
    target = PROVIDER_STATUS.get(reported.lower())
    if target is None:
        return None, ()
    return target, tuple(state for state in RANK if advance(state, reported) == target != state)
