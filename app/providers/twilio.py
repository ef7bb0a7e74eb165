"""Twilio, through the ``twilio`` SDK driven by our httpx client (``twilio_http``).

SDK and transport failures leave this module only as the typed errors of ``providers.errors``.
"""

from __future__ import annotations

from datetime import datetime

from twilio.rest import Client

from app.models import Sender
from app.providers import registration
from app.providers.base import Provider, SenderCheck, SentMessage
from app.providers.errors import ProviderNotFound, translating
from app.providers.registration import Registration
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
        return SenderCheck(True, f"a number of {account} with SMS capability", provider_sid=number.sid,
                           registration=await self._registration(kind, address, number.sid))

    # -- carrier registration (app/providers/registration.py judges what these calls find) ------

    async def _registration(self, kind: str, address: str, number_sid: str) -> Registration:
        if not registration.requires_registration(address):
            return registration.not_required(address)
        if kind == "toll_free":
            with translating():
                found = await self.client.messaging.v1.tollfree_verifications.list_async(
                    tollfree_phone_number_sid=number_sid, limit=20)
            return registration.toll_free(address, [
                {"status": item.status, "rejection_reason": item.rejection_reason, "error_code": item.error_code,
                 "edit_allowed": item.edit_allowed, "date_updated": item.date_updated.isoformat()
                 if item.date_updated else ""} for item in found])
        return await self._long_code_registration(address, await self._service_of(number_sid))

    async def _service_of(self, number_sid: str) -> str | None:
        """The Messaging Service holding the number (a number sits in at most one)."""
        with translating():
            services = await self.client.messaging.v1.services.list_async(limit=1000)
        for service in services:
            try:
                with translating():
                    await self.client.messaging.v1.services(service.sid).phone_numbers(number_sid).fetch_async()
            except ProviderNotFound:
                continue
            return service.sid
        return None

    async def _long_code_registration(self, address: str, service_sid: str | None,
                                      service_registered: bool | None = None) -> Registration:
        if service_sid is None:
            return registration.long_code(address, service_sid=None, service_registered=None, campaign_status=None,
                                          rate_limits=None, brand_status=None)
        service = self.client.messaging.v1.services(service_sid)
        with translating():
            if service_registered is None:
                service_registered = (await service.fetch_async()).us_app_to_person_registered
            campaigns = await service.us_app_to_person.list_async(limit=20)
        campaign = campaigns[0] if campaigns else None
        brand_status = brand_failure = None
        if campaign is not None and campaign.brand_registration_sid:
            try:
                with translating():
                    brand = await self.client.messaging.v1.brand_registrations(
                        campaign.brand_registration_sid).fetch_async()
                brand_status, brand_failure = brand.status, brand.failure_reason
            except ProviderNotFound:
                brand_status = "FAILED"
                brand_failure = f"brand {campaign.brand_registration_sid} does not exist"
        return registration.long_code(
            address, service_sid=service_sid, service_registered=service_registered,
            campaign_status=campaign.campaign_status if campaign else None,
            rate_limits=campaign.rate_limits if campaign else None,
            brand_status=brand_status, brand_failure=brand_failure)

    async def _check_service(self, sid: str, account: str) -> SenderCheck:
        service = self.client.messaging.v1.services(sid)
        try:
            with translating():
                found = await service.fetch_async()
                numbers = await service.phone_numbers.list_async(limit=1000)
        except ProviderNotFound:
            return SenderCheck(False, f"{sid} is not among the messaging services of {account}")
        pool = sorted(item.phone_number for item in numbers if item.phone_number)
        if not pool:
            return SenderCheck(False, f"messaging service {sid} has no phone numbers in its pool")
        return SenderCheck(True, f"a messaging service of {account}", provider_sid=sid, pool=pool,
                           registration=await self._pool_registration(sid, found.us_app_to_person_registered,
                                                                      numbers))

    async def _pool_registration(self, sid: str, service_registered: bool | None, numbers) -> Registration:
        """Each pooled number judged as if it were a sender of its own: the service's A2P campaign
        covers its US long codes, toll-free numbers need their own verification."""
        verdicts: dict[str, Registration] = {}
        long_code: Registration | None = None
        for item in numbers:
            address = item.phone_number
            if not address:
                continue
            if not registration.requires_registration(address):
                verdicts[address] = registration.not_required(address)
            elif registration.is_toll_free(address):
                verdicts[address] = await self._registration("toll_free", address, item.sid)
            else:
                long_code = long_code or await self._long_code_registration(address, sid, service_registered)
                verdicts[address] = long_code
        return registration.pool(sid, verdicts)

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
