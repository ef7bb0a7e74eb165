"""Typed provider errors, and the translation of SDK / transport exceptions into them.

The one question dispatch must answer for every failed send is "may the provider have accepted
this message?". Twilio has no idempotency key for message creation, so:

* ``ProviderThrottled`` (HTTP 429 / code 20429) and ``ProviderUnavailable`` (we never got a
  connection, so nothing was sent) are safe to resend: ``safe_to_retry = True``.
* ``ProviderUnknownOutcome`` (5xx, or a timeout / reset / disconnect after the request may have
  left) is NOT: reconcile (look the message up) before resending, or a person gets two texts.
* Everything else is a definite answer about this request (rejected, opted out, bad credentials...).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import httpx
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException

__all__ = [
    "InvalidRecipient",
    "ProviderAuthError",
    "ProviderError",
    "ProviderNotFound",
    "ProviderRejected",
    "ProviderThrottled",
    "ProviderUnavailable",
    "ProviderUnknownOutcome",
    "RecipientOptedOut",
    "translate",
    "translating",
]


class ProviderError(Exception):
    """Base of every error the provider layer raises."""

    safe_to_retry: ClassVar[bool] = False

    def __init__(
        self,
        message: str = "",
        *,
        code: int | None = None,
        status: int | None = None,
        method: str | None = None,
        uri: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.method = method
        self.uri = uri

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status!r}, message={self.message!r})"

    def __str__(self) -> str:
        bits = [
            f"HTTP {self.status}" if self.status is not None else None,
            f"code {self.code}" if self.code is not None else None,
        ]
        prefix = ", ".join(b for b in bits if b)
        return f"[{prefix}] {self.message}" if prefix else self.message


class ProviderThrottled(ProviderError):
    """HTTP 429 / code 20429: Twilio did not process the request. Back off and resend."""

    safe_to_retry = True


class ProviderUnavailable(ProviderError):
    """No connection could be made (refused, DNS, connect or pool timeout): nothing was sent."""

    safe_to_retry = True


class ProviderUnknownOutcome(ProviderError):
    """5xx, or the connection failed / timed out after the request may have been sent.

    The message may or may not exist at the provider: reconcile before resending.
    """


class ProviderAuthError(ProviderError):
    """Code 20003 (or HTTP 401/403): bad credentials, suspended account."""


class ProviderNotFound(ProviderError):
    """Code 20404 (or HTTP 404): the resource does not exist."""


class ProviderRejected(ProviderError):
    """Any other definite refusal (4xx with a Twilio error code)."""


class RecipientOptedOut(ProviderRejected):
    """Code 21610: the recipient replied STOP to this sender. Never retry; record the opt-out."""


class InvalidRecipient(ProviderRejected):
    """Codes 21211 (invalid 'To'), 21614 ('To' is not a mobile number)."""


_BY_CODE: dict[int, type[ProviderError]] = {
    20003: ProviderAuthError,
    20404: ProviderNotFound,
    20429: ProviderThrottled,
    21610: RecipientOptedOut,
    21211: InvalidRecipient,
    21614: InvalidRecipient,
}


def _classify_http(status: int | None, code: int | None) -> type[ProviderError]:
    if code is not None and code in _BY_CODE:
        return _BY_CODE[code]
    if status == 429:
        return ProviderThrottled
    if status is not None and status >= 500:
        return ProviderUnknownOutcome
    if status in (401, 403):
        return ProviderAuthError
    if status == 404:
        return ProviderNotFound
    return ProviderRejected


def _int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def translate(exc: BaseException) -> ProviderError:
    """Map an SDK or transport exception to our typed error (the original is kept as ``__cause__``).

    Unknown exception types become ``ProviderUnknownOutcome``: if we cannot tell what happened, we
    cannot claim the message was not sent.
    """
    if isinstance(exc, ProviderError):
        return exc
    err: ProviderError
    if isinstance(exc, TwilioRestException | TwilioServiceException):
        status = _int_or_none(exc.status)
        code = _int_or_none(exc.code)
        # The SDK fills code with the HTTP status when the body has no Twilio code: drop that echo.
        if code is not None and code == status:
            code = None
        message = getattr(exc, "msg", None) or getattr(exc, "detail", None) or getattr(exc, "title", "")
        err = _classify_http(status, code)(
            str(message), code=code, status=status, method=exc.method, uri=exc.uri
        )
    elif isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        # Raised before a connection carried any byte of the request.
        err = ProviderUnavailable(f"{type(exc).__name__}: {exc}", **_request_info(exc))
    elif isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError | httpx.InvalidURL):
        err = ProviderError(f"{type(exc).__name__}: {exc}", **_request_info(exc))
    elif isinstance(exc, httpx.HTTPError):
        # Read/write timeouts, resets, disconnects, protocol errors: the request may have left.
        err = ProviderUnknownOutcome(f"{type(exc).__name__}: {exc}", **_request_info(exc))
    elif isinstance(exc, TwilioException) and _page_response(exc) is not None:
        # List calls fail as TwilioException("Unable to fetch page", response): classify by the answer.
        status, code, message = _page_response(exc)
        err = _classify_http(status, code)(message, code=code, status=status)
    elif isinstance(exc, TwilioException):
        err = ProviderError(str(exc))
    else:
        err = ProviderUnknownOutcome(f"unexpected {type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err


def _page_response(exc: TwilioException) -> tuple[int | None, int | None, str] | None:
    response = exc.args[1] if len(exc.args) > 1 else None
    status = _int_or_none(getattr(response, "status_code", None))
    if status is None:
        return None
    try:
        payload = json.loads(getattr(response, "text", "") or "{}")
    except ValueError:
        payload = {}
    payload = payload if isinstance(payload, dict) else {}
    code = _int_or_none(payload.get("code"))
    return status, (None if code == status else code), str(payload.get("message") or exc.args[0])


def _request_info(exc: httpx.HTTPError) -> dict[str, str | None]:
    try:
        request = exc.request
    except RuntimeError:  # .request is unset on errors raised outside a client call
        return {"method": None, "uri": None}
    return {"method": request.method, "uri": str(request.url)}


@contextmanager
def translating() -> Iterator[None]:
    """``with translating(): await client.messages.create_async(...)`` raises only ProviderError."""
    try:
        yield
    except ProviderError:
        raise
    except (TwilioException, httpx.HTTPError) as exc:
        raise translate(exc) from exc
