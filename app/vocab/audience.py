"""A subscription's states and the sources of consent a subscriber may be added with."""

from __future__ import annotations

from enum import StrEnum


class SubscriptionState(StrEnum):
    """pending (double opt-in awaiting YES) → subscribed → unsubscribed."""

    PENDING = "pending"
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"


class ConsentSource(StrEnum):
    """Where a subscriber's consent was given (a consent event's channel when added by a person)."""

    WEB_FORM = "web_form"
    KEYWORD = "keyword"
    PAPER = "paper"
    IMPORT = "import"
    API = "api"
