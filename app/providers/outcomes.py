"""What a send's answer means, read one way by every path that sends: campaign dispatch
(``app.dispatch.send``), double opt-in confirmations (``app.dispatch.outbound``) and test sends
(``app.campaigns.testsend``). Each path then writes down its own record of it.

    sent               the provider accepted it (it has a SID)
    sender_refused     the gate refused the sender (not a verified company sender): nothing left
    opted_out          Twilio 21610: the recipient opted out at the provider — an opt-out (invariant 3)
    invalid_recipient  21211 / 21614: the number cannot receive texts
    retry              throttled (429 / 20429) or never connected: nothing accepted, safe to send later
    unknown            the request may have been accepted (5xx, timeout after sending): reconcile, never resend
    failed             any other definite refusal
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.models import Sender
from app.providers.base import Provider, SenderRefused, SentMessage
from app.providers.errors import (
    InvalidRecipient,
    ProviderError,
    ProviderThrottled,
    ProviderUnknownOutcome,
    RecipientOptedOut,
)


class SendResult(StrEnum):
    SENT = "sent"
    SENDER_REFUSED = "sender_refused"
    OPTED_OUT = "opted_out"
    INVALID_RECIPIENT = "invalid_recipient"
    RETRY = "retry"
    UNKNOWN = "unknown"
    FAILED = "failed"


def classify(error: SenderRefused | ProviderError) -> SendResult:
    """The meaning of a failed send, from the typed error (``app.providers.errors``) it raised."""
    if isinstance(error, SenderRefused):
        return SendResult.SENDER_REFUSED
    if isinstance(error, RecipientOptedOut):
        return SendResult.OPTED_OUT
    if isinstance(error, InvalidRecipient):
        return SendResult.INVALID_RECIPIENT
    if isinstance(error, ProviderUnknownOutcome):
        return SendResult.UNKNOWN
    if error.safe_to_retry:
        return SendResult.RETRY
    return SendResult.FAILED


@dataclass(frozen=True)
class Attempt:
    """One call of ``Provider.send`` and what it means."""

    result: SendResult
    sent: SentMessage | None = None
    error: SenderRefused | ProviderError | None = None

    @property
    def error_code(self) -> int | None:
        """The provider's error code (21610, 20429, …), when it gave one."""
        return self.error.code if isinstance(self.error, ProviderError) else None

    @property
    def throttled(self) -> bool:
        """HTTP 429 or Twilio 20429: the provider asked us to slow down (the sender's rate is penalised)."""
        return isinstance(self.error, ProviderThrottled)

    @property
    def reason(self) -> str:
        """The error's text, for a record: the refusal's message or the provider's error."""
        if isinstance(self.error, SenderRefused):
            return self.error.message
        return str(self.error) if self.error is not None else ""


async def attempt(provider: Provider, sender: Sender, *, to: str, body: str,
                  status_callback: str | None = None) -> Attempt:
    """Send one text through the gate (``Provider.send``) and read the answer with ``classify``."""
    try:
        sent = await provider.send(sender, to=to, body=body, status_callback=status_callback)
    except (SenderRefused, ProviderError) as exc:
        return Attempt(classify(exc), error=exc)
    return Attempt(SendResult.SENT, sent=sent)
