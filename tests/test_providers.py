"""The provider layer: the only way out takes a verified sender record; Twilio is spoken through
the SDK over our httpx client, answered here by pytest-httpx with Twilio-shaped responses."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs

import httpx
import pytest
from sqlalchemy import select

from app.db.base import utcnow
from app.models import Sender
from app.providers.base import SenderRefused
from app.providers.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderThrottled,
    ProviderUnavailable,
    ProviderUnknownOutcome,
    RecipientOptedOut,
)
from app.providers.outcomes import SendResult, attempt, classify
from app.providers.twilio import TwilioProvider
from app.senders import service as senders
from app.senders.service import ProviderFailed

ACCOUNT = "AC" + "1" * 32
API = "https://twilio.test"


def sender(state: str = "verified", **overrides) -> Sender:
    fields = dict(id="snd_test", kind="long_code", address="+15005550006", label="Main", mps=1, state=state, pool=[],
                  verified_at=utcnow() if state == "verified" else None)
    fields.update(overrides)
    return Sender(**fields)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (sender("pending"), "is pending: not a verified company sender"),
        (sender("suspended", state_reason="the provider no longer confirms it"), "is suspended"),
        (sender("revoked"), "is revoked: not a verified company sender"),
        (sender(id=None), "is unknown: it was never registered"),
        ("+14155552671", "not from '+14155552671'"),
        (None, "free-form 'from' values"),
    ],
    ids=["pending", "suspended", "revoked", "unknown", "personal-string", "none"],
)
async def test_send_refuses_anything_but_a_verified_sender(provider, record, message):
    with pytest.raises(SenderRefused, match=re.escape(message)):
        await provider.send(record, to="+14155552671", body="hi")
    assert provider.sent == []


async def test_sandbox_sends_from_a_verified_sender(provider):
    sent = await provider.send(sender(), to="+14155552671", body="Hello from Acme. Reply STOP to opt out.")
    assert sent.sid.startswith("SM") and len(sent.sid) == 34
    assert (sent.status, sent.from_, sent.to) == ("queued", "+15005550006", "+14155552671")


@pytest.fixture
def twilio():
    return TwilioProvider(account_sid=ACCOUNT, auth_token="secret", api_base=API, transport="httpx")


def _numbers_page(*numbers: dict) -> dict:
    return {
        "incoming_phone_numbers": list(numbers),
        "first_page_uri": "/2010-04-01/Accounts/AC/IncomingPhoneNumbers.json?PageSize=50&Page=0",
        "next_page_uri": None, "previous_page_uri": None, "page": 0, "page_size": 50, "start": 0, "end": len(numbers),
        "uri": "/2010-04-01/Accounts/AC/IncomingPhoneNumbers.json",
    }


def _number(phone: str, sms: bool = True) -> dict:
    return {"sid": "PN" + "b" * 32, "account_sid": ACCOUNT, "phone_number": phone, "friendly_name": phone,
            "capabilities": {"voice": True, "sms": sms, "mms": True, "fax": False}}


INCOMING = re.compile(rf"^{re.escape(API)}/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers\.json\?.*PhoneNumber=")


SERVICE = "MG" + "9" * 32
BRAND = "BN" + "8" * 32


def _v1_page(key: str, items: list[dict]) -> dict:
    return {key: items, "meta": {"key": key, "next_page_url": None, "page": 0, "page_size": 50}}


def a2p(httpx_mock, number_sid: str, *, in_service: bool = True, registered: bool = True,
        campaign: str | None = "VERIFIED", brand: str = "APPROVED", rate_limits: dict | None = None) -> None:
    """Twilio's answers about a long code's A2P 10DLC registration: the service that holds it, the
    service's A2P campaign and that campaign's brand."""
    httpx_mock.add_response(url=f"{API}/v1/Services?PageSize=1000",
                            json=_v1_page("services", [{"sid": SERVICE, "account_sid": ACCOUNT}]))
    if not in_service:
        httpx_mock.add_response(url=f"{API}/v1/Services/{SERVICE}/PhoneNumbers/{number_sid}", status_code=404,
                                json={"code": 20404, "message": "not found", "status": 404})
        return
    httpx_mock.add_response(url=f"{API}/v1/Services/{SERVICE}/PhoneNumbers/{number_sid}",
                            json={"sid": number_sid, "service_sid": SERVICE})
    httpx_mock.add_response(url=f"{API}/v1/Services/{SERVICE}",
                            json={"sid": SERVICE, "us_app_to_person_registered": registered})
    campaigns = [] if campaign is None else [{
        "sid": "QE" + "7" * 32, "brand_registration_sid": BRAND, "messaging_service_sid": SERVICE,
        "campaign_status": campaign,
        "rate_limits": rate_limits or {"att": {"mps": 75, "msg_class": "A"}, "tmobile": {"brand_tier": "LOW"}}}]
    httpx_mock.add_response(url=f"{API}/v1/Services/{SERVICE}/Compliance/Usa2p?PageSize=20",
                            json=_v1_page("compliance", campaigns))
    if campaign is not None:
        httpx_mock.add_response(url=f"{API}/v1/a2p/BrandRegistrations/{BRAND}",
                                json={"sid": BRAND, "status": brand, "failure_reason": None})


async def test_twilio_confirms_an_owned_sms_number(twilio, httpx_mock):
    httpx_mock.add_response(url=INCOMING, json=_numbers_page(_number("+15005550006")))
    a2p(httpx_mock, "PN" + "b" * 32)
    check = await twilio.check_sender("long_code", "+15005550006")
    assert check.owned and check.provider_sid.startswith("PN")
    assert check.registration.approved and (check.registration.mps, check.registration.daily_cap) == (75, 2000)
    request = httpx_mock.get_requests()[0]
    assert request.headers["authorization"].startswith("Basic ")
    assert "PhoneNumber=%2B15005550006" in str(request.url)
    await twilio.aclose()


@pytest.mark.parametrize(
    ("answers", "status", "words"),
    [
        ({"in_service": False}, "missing", "in no Messaging Service"),
        ({"campaign": None}, "missing", "no A2P 10DLC campaign"),
        ({"campaign": "PENDING"}, "pending", "campaign is pending"),
        ({"campaign": "FAILED"}, "rejected", "is failed"),
        ({"brand": "IN_REVIEW"}, "pending", "brand is in review"),
    ],
)
async def test_twilio_owned_long_code_without_an_approved_registration_is_not_cleared(
        twilio, httpx_mock, answers, status, words):
    httpx_mock.add_response(url=INCOMING, json=_numbers_page(_number("+14155550123")))
    a2p(httpx_mock, "PN" + "b" * 32, **answers)
    check = await twilio.check_sender("long_code", "+14155550123")
    assert check.owned
    assert (check.registration.state, check.registration.approved) == (status, False)
    assert words in check.registration.reason and check.registration.action
    await twilio.aclose()


@pytest.mark.parametrize(
    ("verifications", "status"),
    [([], "missing"), ([{"status": "PENDING_REVIEW"}], "pending"),
     ([{"status": "TWILIO_REJECTED", "rejection_reason": "Opt-in flow unclear", "error_code": 30498}], "rejected"),
     ([{"status": "TWILIO_APPROVED"}], "approved")],
)
async def test_twilio_toll_free_needs_an_approved_verification(twilio, httpx_mock, verifications, status):
    number_sid = "PN" + "b" * 32
    httpx_mock.add_response(url=INCOMING, json=_numbers_page(_number("+18005550100")))
    httpx_mock.add_response(
        url=f"{API}/v1/Tollfree/Verifications?TollfreePhoneNumberSid={number_sid}&PageSize=20",
        json=_v1_page("verifications", [{"sid": "HH" + "1" * 32, "tollfree_phone_number_sid": number_sid, **item}
                                        for item in verifications]))
    check = await twilio.check_sender("toll_free", "+18005550100")
    assert check.owned and check.registration.state == status
    if status == "rejected":
        assert "Opt-in flow unclear (error 30498)" in check.registration.reason
    await twilio.aclose()


async def test_twilio_numbers_outside_the_us_need_no_registration(twilio, httpx_mock):
    httpx_mock.add_response(url=INCOMING, json=_numbers_page(_number("+16135550123")))
    check = await twilio.check_sender("long_code", "+16135550123")  # Canada: no 10DLC lookups at all
    assert check.owned and check.registration.approved
    await twilio.aclose()


async def test_twilio_refuses_a_number_not_in_the_account_or_without_sms(twilio, httpx_mock):
    httpx_mock.add_response(url=INCOMING, json=_numbers_page())
    httpx_mock.add_response(url=INCOMING, json=_numbers_page(_number("+15005550006", sms=False)))
    missing = await twilio.check_sender("long_code", "+14155552671")
    assert not missing.owned and "not among the phone numbers" in missing.reason
    no_sms = await twilio.check_sender("long_code", "+15005550006")
    assert not no_sms.owned and "no SMS capability" in no_sms.reason
    await twilio.aclose()


async def test_twilio_short_code_and_messaging_service(twilio, httpx_mock):
    httpx_mock.add_response(
        url=re.compile(r".*/ShortCodes\.json\?.*ShortCode=12345"),
        json={"short_codes": [{"sid": "SC" + "c" * 32, "short_code": "12345", "account_sid": ACCOUNT}],
              "next_page_uri": None, "page": 0, "page_size": 50, "uri": "/x"},
    )
    service_sid = "MG" + "d" * 32
    httpx_mock.add_response(url=f"{API}/v1/Services/{service_sid}",
                            json={"sid": service_sid, "account_sid": ACCOUNT, "friendly_name": "Marketing",
                                  "us_app_to_person_registered": True})
    httpx_mock.add_response(
        url=re.compile(rf"^{re.escape(API)}/v1/Services/{service_sid}/PhoneNumbers"),
        json={"phone_numbers": [{"sid": "PN" + "e" * 32, "phone_number": "+15005550006"},
                                {"sid": "PN" + "f" * 32, "phone_number": "+18005550100"}],
              "meta": {"key": "phone_numbers", "next_page_url": None, "page": 0, "page_size": 50}},
    )
    httpx_mock.add_response(
        url=f"{API}/v1/Services/{service_sid}/Compliance/Usa2p?PageSize=20",
        json=_v1_page("compliance", [{"sid": "QE" + "7" * 32, "brand_registration_sid": BRAND,
                                      "campaign_status": "VERIFIED", "rate_limits": {"att": {"mps": 12}}}]))
    httpx_mock.add_response(url=f"{API}/v1/a2p/BrandRegistrations/{BRAND}", json={"sid": BRAND, "status": "APPROVED"})
    httpx_mock.add_response(
        url=f"{API}/v1/Tollfree/Verifications?TollfreePhoneNumberSid={'PN' + 'f' * 32}&PageSize=20",
        json=_v1_page("verifications", [{"sid": "HH" + "1" * 32, "status": "IN_REVIEW"}]))
    assert (await twilio.check_sender("short_code", "12345")).owned
    service = await twilio.check_sender("messaging_service", service_sid)
    assert service.owned and service.pool == ["+15005550006", "+18005550100"]
    # The service's A2P campaign covers its long code; the toll-free number in its pool is still in
    # review, and Twilio may pick any number of the pool: the service is not cleared.
    assert service.registration.state == "pending" and "+18005550100" in service.registration.reason
    await twilio.aclose()


async def test_twilio_unknown_messaging_service_20404_is_not_owned(twilio, httpx_mock):
    service_sid = "MG" + "0" * 32
    httpx_mock.add_response(
        url=f"{API}/v1/Services/{service_sid}", status_code=404,
        json={"code": 20404, "message": "The requested resource was not found", "status": 404,
              "more_info": "https://www.twilio.com/docs/errors/20404"},
    )
    check = await twilio.check_sender("messaging_service", service_sid)
    assert not check.owned and "not among the messaging services" in check.reason
    await twilio.aclose()


async def test_twilio_bad_credentials_20003_is_a_provider_error_not_a_verdict(twilio, httpx_mock, session, admin):
    httpx_mock.add_response(
        url=INCOMING, status_code=401,
        json={"code": 20003, "message": "Authenticate", "status": 401, "more_info": "https://www.twilio.com/docs/errors/20003"},
    )
    with pytest.raises(ProviderAuthError):
        await twilio.check_sender("long_code", "+15005550006")

    httpx_mock.add_response(url=INCOMING, status_code=401, json={"code": 20003, "message": "Authenticate", "status": 401})
    record = sender("verified")
    session.add(record)
    await session.flush()
    with pytest.raises(ProviderFailed, match="could not ask the provider"):
        await senders.recheck(session, record, provider=twilio, actor=admin.user)
    assert record.state == "verified"  # no answer is not a "no"
    await twilio.aclose()


async def test_twilio_send_posts_the_message_with_a_status_callback(twilio, httpx_mock):
    messages = f"{API}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    httpx_mock.add_response(
        url=messages, method="POST", status_code=201,
        json={"sid": "SM" + "a" * 32, "status": "queued", "to": "+14155552671", "from": "+15005550006",
              "body": "Hi", "account_sid": ACCOUNT, "error_code": None, "date_created": "Sun, 22 Nov 2026 15:00:00 +0000"},
    )
    sent = await twilio.send(sender(), to="+14155552671", body="Hi", status_callback="https://fineline.test/webhooks/twilio/status?t=1")
    assert sent.sid == "SM" + "a" * 32 and sent.status == "queued"
    form = parse_qs(httpx_mock.get_requests()[0].content.decode())
    assert form == {"To": ["+14155552671"], "From": ["+15005550006"], "Body": ["Hi"],
                    "StatusCallback": ["https://fineline.test/webhooks/twilio/status?t=1"]}
    await twilio.aclose()


async def test_twilio_messaging_service_sender_sends_by_service_sid(twilio, httpx_mock):
    service_sid = "MG" + "d" * 32
    httpx_mock.add_response(method="POST", status_code=201,
                            json={"sid": "SM" + "b" * 32, "status": "accepted", "to": "+14155552671", "from": None})
    await twilio.send(sender(kind="messaging_service", address=service_sid), to="+14155552671", body="Hi")
    form = parse_qs(httpx_mock.get_requests()[0].content.decode())
    assert form["MessagingServiceSid"] == [service_sid] and "From" not in form
    await twilio.aclose()


async def test_twilio_pending_sender_never_reaches_the_network(twilio, httpx_mock):
    with pytest.raises(SenderRefused):
        await twilio.send(sender("pending"), to="+14155552671", body="Hi")
    assert httpx_mock.get_requests() == []
    await twilio.aclose()


def test_json_fixture_shapes_are_serialisable():
    assert json.dumps(_numbers_page(_number("+15005550006")))


async def test_the_twilio_connection_pool_is_sized_by_max_in_flight():
    """The pump keeps max_in_flight calls at the provider; a smaller pool would queue them in the
    transport past their send slots."""
    from app.config import Settings
    from app.providers import build_provider

    settings = Settings(_env_file=None, provider="twilio", twilio_account_sid="AC" + "1" * 32,
                        twilio_auth_token="secret", max_in_flight=300)
    provider = build_provider(settings)
    try:
        transport = provider.http.client._transport_for_url(provider.http.client.base_url.join("https://api.twilio.com"))
        assert transport._pool._max_connections == 300
    finally:
        await provider.aclose()


# --- one reading of a send's answer, shared by dispatch, confirmations and test sends ---------------

MESSAGES = f"{API}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"


@pytest.mark.parametrize(
    ("status", "body", "result", "code", "throttled"),
    [
        (201, {"sid": "SM" + "a" * 32, "status": "queued", "to": "+14155552671", "from": "+15005550006"},
         SendResult.SENT, None, False),
        (400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400},
         SendResult.OPTED_OUT, 21610, False),
        (400, {"code": 21211, "message": "The 'To' number is not a valid phone number", "status": 400},
         SendResult.INVALID_RECIPIENT, 21211, False),
        (429, {"code": 20429, "message": "Too Many Requests", "status": 429}, SendResult.RETRY, 20429, True),
        (503, {"message": "Service Unavailable", "status": 503}, SendResult.UNKNOWN, None, False),
        (400, {"code": 21408, "message": "Permission to send to this region is not enabled", "status": 400},
         SendResult.FAILED, 21408, False),
        (401, {"code": 20003, "message": "Authenticate", "status": 401}, SendResult.FAILED, 20003, False),
    ],
)
async def test_attempt_reads_each_twilio_answer_one_way(twilio, httpx_mock, status, body, result, code, throttled):
    httpx_mock.add_response(url=MESSAGES, method="POST", status_code=status, json=body)
    answer = await attempt(twilio, sender(), to="+14155552671", body="Hi")
    assert answer.result == result
    assert answer.error_code == code and answer.throttled is throttled
    assert (answer.sent is not None) is (result == SendResult.SENT)
    assert (answer.reason == "") is (result == SendResult.SENT)
    await twilio.aclose()


async def test_attempt_a_connection_never_made_is_a_retry_and_a_refused_sender_never_leaves(twilio, httpx_mock):
    httpx_mock.add_exception(httpx.ConnectError("connection refused"), url=MESSAGES)
    assert (await attempt(twilio, sender(), to="+14155552671", body="Hi")).result == SendResult.RETRY
    refused = await attempt(twilio, sender("suspended"), to="+14155552671", body="Hi")
    assert refused.result == SendResult.SENDER_REFUSED and "is suspended" in refused.reason
    assert len(httpx_mock.get_requests()) == 1  # the suspended sender's text never reached the network
    await twilio.aclose()


def test_classify_prefers_the_specific_meaning_over_retry_safety():
    assert classify(ProviderThrottled("slow down", status=429)) == SendResult.RETRY
    assert classify(ProviderUnavailable("refused")) == SendResult.RETRY
    assert classify(ProviderUnknownOutcome("timeout after the request left")) == SendResult.UNKNOWN
    assert classify(RecipientOptedOut("opted out", code=21610)) == SendResult.OPTED_OUT
    assert classify(ProviderError("malformed URL")) == SendResult.FAILED
    assert classify(SenderRefused("not verified")) == SendResult.SENDER_REFUSED


@pytest.mark.parametrize(("state", "verified"),
                         [("pending", False), ("verified", True), ("suspended", False), ("revoked", False)])
async def test_is_verified_is_one_test_in_python_and_in_sql(session, state, verified):
    record = sender(state, id=f"snd_iv_{state}", address=f"+1500555{len(state):04d}")
    session.add(record)
    await session.flush()
    assert record.is_verified is verified
    found = await session.scalar(select(Sender.id).where(Sender.id == record.id, Sender.is_verified))
    assert (found == record.id) is verified
