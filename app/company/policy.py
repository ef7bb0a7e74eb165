"""The frequency cap as a rule, without I/O: at most ``messages`` marketing messages to one phone
number in any window of ``hours`` (docs/design.md, "The frequency cap")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class FrequencyCap:
    messages: int
    hours: float

    @property
    def window(self) -> timedelta:
        return timedelta(hours=self.hours)

    def since(self, now: datetime) -> datetime:
        """Contacts after this instant count against a message sent at ``now``."""
        return now - self.window

    def allows(self, contacts_in_window: int) -> bool:
        return contacts_in_window < self.messages


def cap_of(messages: int, hours: float) -> FrequencyCap | None:
    """The cap in force, or None when there is none (``messages`` 0)."""
    return FrequencyCap(messages, hours) if messages > 0 else None
