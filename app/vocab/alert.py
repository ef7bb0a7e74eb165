"""An alert's states: open → acknowledged → resolved (open → resolved too)."""

from __future__ import annotations

from enum import StrEnum


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
