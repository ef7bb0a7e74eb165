"""The sandbox provider: behaves like Twilio for everything Fineline uses, without leaving the machine.

- The account owns the senders in ``FINELINE_SANDBOX_OWNED_NUMBERS``: E.164 numbers (long codes
  and toll-free), 5–6 digit short codes, and messaging service SIDs (``MG…``), whose pool is the
  account's phone numbers.
- Messages get Twilio-shaped SIDs and statuses. When a status callback URL is given, the sandbox
  posts ``sent`` and then ``delivered`` (or ``undelivered``/``failed`` for a configurable share)
  to it after a short delay, form-encoded and signed with the auth token exactly as Twilio signs.
- Carrier registration: the account's US numbers are registered (an approved A2P campaign or
  toll-free verification) unless ``set_registration`` says otherwise; a message from a sender
  whose registration was withdrawn fails with the carrier's error (30034 / 30032), as at Twilio.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import secrets
from datetime import UTC, datetime

import httpx
from twilio.request_validator import RequestValidator

from app.models import Sender
from app.providers import registration
from app.providers.base import Provider, SenderCheck, SentMessage
from app.providers.registration import Registration

log = logging.getLogger(__name__)

_SHORT_CODE = re.compile(r"^\d{5,6}$")


class SandboxProvider(Provider):
    name = "sandbox"

    def __init__(
        self,
        owned: list[str],
        *,
        account_sid: str,
        auth_token: str,
        callback_delay: float = 0.5,
        failure_share: float = 0.0,
        callbacks: bool = True,
        seed: int | None = None,
    ):
        if not auth_token:
            raise ValueError("the sandbox signs its callbacks with the webhook token; an empty token is no token")
        self.owned: set[str] = {item.strip() for item in owned if item.strip()}
        self.account_sid = account_sid
        self.validator = RequestValidator(auth_token)
        self.callback_delay = callback_delay
        self.failure_share = failure_share
        self.callbacks = callbacks
        self.random = random.Random(seed)
        self.sent: list[SentMessage] = []
        self.registrations: dict[str, Registration] = {}
        self._tasks: set[asyncio.Task] = set()
        self._http: httpx.AsyncClient | None = None

    # -- the account -------------------------------------------------------------------------

    def release(self, address: str) -> None:
        """Remove a sender from the account (as if the number were released at Twilio)."""
        self.owned.discard(address)

    def set_registration(self, address: str, status: str, *, reason: str = "", mps: int | None = None,
                         daily_cap: int | None = None) -> None:
        """What the carriers say of ``address`` from now on (tests and demos: pending, rejected...)."""
        self.registrations[address] = Registration(
            status, reason or f"sandbox: the registration of {address} is {status}",
            "" if status == registration.APPROVED else "wait for the approval, or fix it in the provider's console",
            mps=mps, daily_cap=daily_cap)

    def _registration(self, address: str) -> Registration:
        if address in self.registrations:
            return self.registrations[address]
        if not registration.requires_registration(address):
            return registration.not_required(address)
        return Registration(registration.APPROVED, f"sandbox: {address} is registered with the carriers")

    def _numbers(self) -> list[str]:
        return sorted(a for a in self.owned if a.startswith("+"))

    async def check_sender(self, kind: str, address: str) -> SenderCheck:
        if kind == "alphanumeric":
            return SenderCheck(False, "an alphanumeric sender ID cannot be proven by the provider")
        if address not in self.owned:
            where = {"messaging_service": "messaging services", "short_code": "short codes"}.get(kind, "phone numbers")
            return SenderCheck(False, f"{address} is not among the {where} of the company's account {self.account_sid}")
        if kind == "messaging_service":
            pool = self._numbers()
            if not pool:
                return SenderCheck(False, f"messaging service {address} has no phone numbers in its pool")
            verdicts = {number: self._registration(number) for number in pool}
            if address in self.registrations:
                verdicts[address] = self.registrations[address]
            return SenderCheck(True, "a messaging service of the company's account", provider_sid=address, pool=pool,
                               registration=registration.pool(address, verdicts))
        if kind == "short_code":
            if not _SHORT_CODE.match(address):
                return SenderCheck(False, f"{address} is not a short code of the company's account")
            return SenderCheck(True, "an active short code of the company's account", provider_sid="SC" + secrets.token_hex(16))
        sid = "PN" + secrets.token_hex(16)
        return SenderCheck(True, "a number of the company's account with SMS capability", provider_sid=sid,
                           registration=self._registration(address))

    # -- messages ------------------------------------------------------------------------------

    async def _create_message(self, sender: Sender, *, to: str, body: str, status_callback: str | None) -> SentMessage:
        sid = "SM" + secrets.token_hex(16)
        from_ = self.random.choice(sender.pool) if sender.kind == "messaging_service" and sender.pool else sender.address
        message = SentMessage(sid=sid, status="queued", to=to, from_=from_, created_at=datetime.now(UTC), body=body)
        self.sent.append(message)
        refused = self.registrations.get(sender.address)
        carrier_code = None
        if refused is not None and not refused.approved:  # accepted by the API, then blocked by the carriers
            carrier_code = "30032" if registration.is_toll_free(sender.address) else "30034"
        if status_callback and self.callbacks:
            task = asyncio.create_task(self._callbacks(message, status_callback, carrier_code))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return message

    async def messages_to(self, to: str, *, since: datetime) -> list[SentMessage]:
        return [m for m in self.sent if m.to == to and (m.created_at is None or m.created_at >= since)]

    async def _callbacks(self, message: SentMessage, url: str, carrier_code: str | None = None) -> None:
        final, code = "delivered", None
        if carrier_code:
            final, code = "undelivered", carrier_code
        elif self.random.random() < self.failure_share:
            final, code = self.random.choice([("undelivered", "30007"), ("undelivered", "30003"), ("failed", "30008")])
        for status in ("sent", final):
            await asyncio.sleep(self.callback_delay * (0.5 + self.random.random()))
            params = {
                "AccountSid": self.account_sid,
                "MessageSid": message.sid,
                "SmsSid": message.sid,
                "MessageStatus": status,
                "SmsStatus": status,
                "To": message.to,
                "From": message.from_ or "",
                "ApiVersion": "2010-04-01",
            }
            if code and status == final:
                params["ErrorCode"] = code
            await self._post_signed(url, params)

    async def _post_signed(self, url: str, params: dict[str, str]) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=15.0)
        signature = self.validator.compute_signature(url, params)
        try:
            await self._http.post(url, data=params, headers={"X-Twilio-Signature": signature})
        except httpx.HTTPError as exc:  # Twilio, too, gives up after its retries
            log.warning("sandbox status callback to %s failed: %s", url, exc)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
