"""The sender's states (the moves between them: ``app.senders.lifecycle``) and its kinds."""

from __future__ import annotations

from enum import StrEnum


class SenderState(StrEnum):
    PENDING = "pending"
    UNREGISTERED = "unregistered"  # owned, but the carriers' registration is not approved (docs/carrier-registration.md)
    VERIFIED = "verified"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class SenderKind(StrEnum):
    LONG_CODE = "long_code"
    TOLL_FREE = "toll_free"
    SHORT_CODE = "short_code"
    MESSAGING_SERVICE = "messaging_service"
    ALPHANUMERIC = "alphanumeric"
