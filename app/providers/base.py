"""What Fineline needs from an SMS provider, and the one gate every outbound message passes.

``Provider.send`` takes a ``Sender`` record — never a string — and refuses anything but a verified
sender (docs/design.md, invariant 1). Subclasses implement ``_create_message`` with the address the
record carries; nothing else in the code base can reach it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime

from app.errors import Conflict
from app.models import Sender
from app.providers.registration import Registration


@dataclass(frozen=True)
class SenderCheck:
    """The provider's answer to "does the company's account own this sender and can it send SMS?",
    and, for an owned sender, the carriers' registration verdict (None where none applies)."""

    owned: bool
    reason: str
    provider_sid: str | None = None
    pool: list[str] = field(default_factory=list)
    registration: Registration | None = None


@dataclass(frozen=True)
class SentMessage:
    sid: str
    status: str
    to: str
    from_: str | None
    created_at: datetime | None = None
    error_code: int | None = None
    body: str | None = None


class SenderRefused(Conflict):
    """The sending path was handed something that is not a verified company sender."""

    code = "sender_not_verified"


def ensure_sendable(sender: object) -> Sender:
    """Refuse anything but a persisted, verified Sender record, with the reason."""
    if not isinstance(sender, Sender):
        raise SenderRefused(
            f"a message can only leave from a registered company sender record, not from {sender!r}: "
            "free-form 'from' values (a personal number, say) are never sent from"
        )
    if sender.id is None:
        raise SenderRefused(f"sender {sender.address} is unknown: it was never registered and verified")
    if not sender.is_verified:
        reason = f" ({sender.state_reason})" if sender.state_reason else ""
        raise SenderRefused(
            f"sender {sender.address} ({sender.id}) is {sender.state}{reason}: not a verified company sender"
        )
    return sender


class Provider(ABC):
    name: str

    @abstractmethod
    async def check_sender(self, kind: str, address: str) -> SenderCheck:
        """Ask the provider whether the company's account owns ``address`` and can send SMS from it.

        Alphanumeric IDs cannot be proven by a provider: the answer is ``owned=False`` with a reason,
        and confirmation is a second admin's job (``app.senders.service``).
        """

    async def send(self, sender: Sender, *, to: str, body: str, status_callback: str | None = None) -> SentMessage:
        """Send one SMS from a verified company sender. The only way out."""
        ensure_sendable(sender)
        return await self._create_message(sender, to=to, body=body, status_callback=status_callback)

    @abstractmethod
    async def _create_message(
        self, sender: Sender, *, to: str, body: str, status_callback: str | None
    ) -> SentMessage: ...

    @abstractmethod
    async def messages_to(self, to: str, *, since: datetime) -> list[SentMessage]:
        """Messages the account sent to ``to`` since ``since`` (reconciling unknown outcomes)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections; called on shutdown."""
