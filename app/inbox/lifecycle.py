"""The states of a conversation and of a reply, and the conversation's transition table. Pure: no I/O.

    conversation: open ⇄ snoozed (until a time; a new inbound wakes it) → resolved → open (a new inbound)

    reply: held (personal-looking, waits for a reviewer) → queued | scheduled (quiet hours) | rejected
           queued | scheduled → sending → sent → delivered | undelivered | failed
           sending → unknown (reconciled with the provider, never resent blindly) → sent | queued
           or skipped (the customer opted out, the sender is no longer verified) with the reason
"""

from __future__ import annotations

from enum import StrEnum

from app.statemachine import IllegalTransition, Transitions

__all__ = ["IllegalTransition", "ConversationState", "ReplyState", "Purpose", "check_move"]


class ConversationState(StrEnum):
    OPEN = "open"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


class ReplyState(StrEnum):
    HELD = "held"
    REJECTED = "rejected"
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    UNKNOWN = "unknown"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    SKIPPED = "skipped"


class Purpose(StrEnum):
    """Why the company wrote a text in a conversation."""

    REPLY = "reply"  # an employee answering
    START = "start"  # an employee starting a conversation (needs active consent)
    HANDOVER = "handover"  # offboarding: "Ben will look after you from now on"
    AUTO_REPLY = "auto_reply"  # outside business hours, once per conversation per day


#: Replies that wait to leave (the worker sends them when due).
DUE = (ReplyState.QUEUED, ReplyState.SCHEDULED)
#: Replies that have not left and may still be stopped (an opt-out skips them).
PENDING = (ReplyState.HELD, ReplyState.QUEUED, ReplyState.SCHEDULED)

_TRANSITIONS = Transitions("conversation", {
    ConversationState.OPEN: frozenset({ConversationState.SNOOZED, ConversationState.RESOLVED}),
    ConversationState.SNOOZED: frozenset({ConversationState.OPEN, ConversationState.RESOLVED}),
    ConversationState.RESOLVED: frozenset({ConversationState.OPEN}),
})


def check_move(current: str, target: str) -> None:
    _TRANSITIONS.check_move(current, target)
