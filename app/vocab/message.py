"""A campaign message's states (the rule for moving them: ``app.dispatch.states``).

    queued → sending → sent → delivered | undelivered | failed;  or skipped (with the reason)

``unknown``: the provider call's outcome could not be known (the request may or may not have reached
it); the reconciler settles it by asking the provider, never by sending again.
"""

from __future__ import annotations

from enum import StrEnum


class MessageState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    UNKNOWN = "unknown"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    SKIPPED = "skipped"


class SkipReason(StrEnum):
    """Skip reasons a report counts by name (the others are sentences saying why)."""

    #: The company's frequency cap: the number already had its marketing messages for the window.
    FREQUENCY_CAP = "frequency_cap"
