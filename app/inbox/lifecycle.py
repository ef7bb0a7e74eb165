"""A conversation's transition table, and which replies wait or may still be stopped. Pure: no I/O.
The states themselves are ``app.vocab.conversation``."""

from __future__ import annotations

from app.statemachine import IllegalTransition, Transitions
from app.vocab.conversation import ConversationState, ReplyState

__all__ = ["DUE", "PENDING", "IllegalTransition", "check_move"]

#: Replies that wait to leave (the worker sends them when due).
DUE = (ReplyState.QUEUED, ReplyState.SCHEDULED)
#: Replies that have not left and may still be stopped.
PENDING = (ReplyState.HELD, ReplyState.QUEUED, ReplyState.SCHEDULED)

_TRANSITIONS = Transitions("conversation", {
    ConversationState.OPEN: frozenset({ConversationState.SNOOZED, ConversationState.RESOLVED}),
    ConversationState.SNOOZED: frozenset({ConversationState.OPEN, ConversationState.RESOLVED}),
    ConversationState.RESOLVED: frozenset({ConversationState.OPEN}),
})


def check_move(current: str, target: str) -> None:
    _TRANSITIONS.check_move(current, target)
