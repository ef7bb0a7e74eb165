"""Twilio, through the ``twilio`` SDK driven by our httpx client (``twilio_http``).

SDK and transport failures leave this module only as the typed errors of ``providers.errors``.
"""

from __future__ import annotations

from datetime import datetime

from twilio.rest import Client

from app.models import Sender
from app.providers.base import Provider, SenderCheck, SentMessage
from app.providers.errors import ProviderNotFound, translating
from app.providers.twilio_http import HttpxTwilioClient

TWILIO_API = "https://api.twilio.com"


class TwilioProvider(Provider):
    name = "twilio"

    def __init__(self, *, account_sid: str, auth_token: str, api_base: str, transport: str | None = None,
                 max_in_flight: int = 256, http: HttpxTwilioClient | None = None):
        self.account_sid = account_sid
        # Only a non-default base is rewritten: real Twilio keeps its per-product hosts (messaging., api.).
        base = None if api_base.rstrip("/") == TWILIO_API else api_base
        self.http = http or HttpxTwilioClient(api_base=base, transport=transport, max_in_flight=max_in_flight)
        self.client = Client(account_sid, auth_token, http_client=self.http)

    async def check_sender(self, kind: str, address: str) -> SenderCheck:
        account = f"the company's Twilio account {self.account_sid}"
        if kind == "alphanumeric":
            return SenderCheck(False, "an alphanumeric sender ID cannot be proven by the provider")
        if kind == "messaging_service":
            return await self._check_service(address, account)
        with translating():
            if kind == "short_code":
                found = await self.client.short_codes.list_async(short_code=address, limit=20)
                matches = [item for item in found if item.short_code == address]
                if not matches:
                    return SenderCheck(False, f"{address} is not among the short codes of {account}")
                return SenderCheck(True, f"a short code of {account}", provider_sid=matches[0].sid)
            found = await self.client.incoming_phone_numbers.list_async(phone_number=address, limit=20)
        matches = [item for item in found if item.phone_number == address]
        if not matches:
            return SenderCheck(False, f"{address} is not among the phone numbers of {account}")
        number = matches[0]
        if not (number.capabilities or {}).get("sms"):
            return SenderCheck(False, f"{address} belongs to {account} but has no SMS capability")
        return SenderCheck(True, f"a number of {account} with SMS capability", provider_sid=number.sid)

    async def _check_service(self, sid: str, account: str) -> SenderCheck:
        service = self.client.messaging.v1.services(sid)
        try:
            with translating():
                await service.fetch_async()
                numbers = await service.phone_numbers.list_async(limit=1000)
        except ProviderNotFound:
            return SenderCheck(False, f"{sid} is not among the messaging services of {account}")
        pool = sorted(item.phone_number for item in numbers if item.phone_number)
        if not pool:
            return SenderCheck(False, f"messaging service {sid} has no phone numbers in its pool")
        return SenderCheck(True, f"a messaging service of {account}", provider_sid=sid, pool=pool)

    async def _create_message(self, sender: Sender, *, to: str, body: str, status_callback: str | None) -> SentMessage:
        origin = {"messaging_service_sid": sender.address} if sender.kind == "messaging_service" else {"from_": sender.address}
        extra = {"status_callback": status_callback} if status_callback else {}
        with translating():
            message = await self.client.messages.create_async(to=to, body=body, **origin, **extra)
        return _sent(message)

    async def messages_to(self, to: str, *, since: datetime) -> list[SentMessage]:
        # Not filtered by DateSent at Twilio: a message accepted but still queued there has no sent
        # date yet, and missing it would mean sending it twice. The newest messages to the number,
        # filtered by creation time here, cover the window of a claim.
        with translating():
            found = await self.client.messages.list_async(to=to, limit=200)
        return [sent for sent in map(_sent, found) if sent.created_at is None or sent.created_at >= since]

    async def aclose(self) -> None:
        await self.http.aclose()


def _sent(message) -> SentMessage:
    return SentMessage(
        sid=message.sid,
        status=str(message.status),
        to=message.to,
        from_=message.from_,
        created_at=message.date_created,
        error_code=message.error_code,
        body=message.body,
    )
