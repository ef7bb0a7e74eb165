"""The company inbox's vocabularies: a conversation's states, a reply's states, why a reply was
written (the moves between conversation states: ``app.inbox.lifecycle``).

    conversation: open ⇄ snoozed (until a time; a new inbound wakes it) → resolved → open (a new inbound)

    reply: held (personal-looking, waits for a reviewer) → queued | scheduled (quiet hours) | rejected
           queued | scheduled → sending → sent → delivered | undelivered | failed
           sending → unknown (reconciled with the provider, never resent blindly) → sent | queued
           or skipped (the customer opted out, the sender is no longer verified) with the reason
"""

from __future__ import annotations

from enum import StrEnum


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


class ReplyPurpose(StrEnum):
    """Why the company wrote a text in a conversation."""

    REPLY = "reply"  # an employee answering
    START = "start"  # an employee starting a conversation (needs active consent)
    HANDOVER = "handover"  # offboarding: "Ben will look after you from now on"
    AUTO_REPLY = "auto_reply"  # outside business hours, once per conversation per day
