"""The one rule for moving a message on status callbacks: monotonic. Pure: no I/O.

    queued → sending → sent → delivered | undelivered | failed;  or skipped (with the reason)

The states themselves are ``app.vocab.message.MessageState``. An ``unknown`` message (its send's
outcome could not be known) is settled by the reconciler, which attaches its SID, not by this table.

Twilio's callbacks arrive out of order and more than once; a later-ranked status wins and a final
one (delivered, undelivered, failed) is never replaced — delivered never goes back to sent.
"""

from __future__ import annotations

from app.vocab.message import MessageState as S

FINAL = frozenset({S.DELIVERED, S.UNDELIVERED, S.FAILED, S.SKIPPED})

#: Twilio's MessageStatus values mapped to ours.
PROVIDER_STATUS = {
    "accepted": S.SENDING, "scheduled": S.SENDING, "queued": S.SENDING, "sending": S.SENDING,
    "sent": S.SENT, "delivered": S.DELIVERED, "read": S.DELIVERED,
    "undelivered": S.UNDELIVERED, "failed": S.FAILED, "canceled": S.FAILED,
}
RANK = {S.QUEUED: 0, S.SENDING: 1, S.SENT: 2, S.DELIVERED: 3, S.UNDELIVERED: 3, S.FAILED: 3, S.SKIPPED: 3}


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
