"""The Twilio provider layer: the SDK over HttpxTwilioClient, URL rewriting, error translation.

Most tests go through pytest-httpx with the *production* transport (AiohttpPoolTransport is an
httpx.AsyncHTTPTransport, which pytest-httpx patches). The last section runs the part pytest-httpx
replaces -- the aiohttp pool -- against real servers on 127.0.0.1 (scripts/fake_twilio.py and small
misbehaving ones), with pytest-httpx told to let those requests through.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from aiohttp import web
from pytest_httpx import IteratorStream
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from app.providers.errors import (
    InvalidRecipient,
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
    ProviderUnknownOutcome,
    RecipientOptedOut,
    translate,
    translating,
)
from app.providers.twilio_http import (
    AiohttpPoolTransport,
    HttpxTwilioClient,
    build_httpx_client,
    transport_from_env,
)

ACCOUNT_SID = "AC" + "a" * 32
AUTH_TOKEN = "secret-token"
API_BASE = "http://127.0.0.1:9999"
MESSAGES_URL = f"{API_BASE}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
SENDER = "+15005550006"
RECIPIENT = "+15551234567"
CALLBACK = "https://fineline.test/hooks/twilio/status"


def message_json(**overrides: object) -> dict[str, object]:
    sid = "SM" + "0123456789abcdef" * 2
    body = {
        "account_sid": ACCOUNT_SID,
        "api_version": "2010-04-01",
        "body": "Hello",
        "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
        "date_sent": None,
        "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000",
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": SENDER,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued",
        "subresource_uris": {"media": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media.json"},
        "to": RECIPIENT,
        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
    }
    body.update(overrides)
    return body


def twilio_error(code: int, status: int, message: str = "error") -> dict[str, object]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def form_of(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.content.decode())


@pytest.fixture(params=["aiohttp", "httpx"])
async def http(request):
    """The SDK's HTTP client over each transport pytest-httpx can see (production first)."""
    client = HttpxTwilioClient(api_base=API_BASE, transport=request.param, max_in_flight=8)
    yield client
    await client.aclose()


@pytest.fixture
def twilio(http) -> Client:
    return Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http)


# --- transport selection ------------------------------------------------------------------------


def test_production_transport_is_one_pytest_httpx_patches():
    client = build_httpx_client("aiohttp")
    assert isinstance(client._transport, AiohttpPoolTransport)
    assert isinstance(client._transport, httpx.AsyncHTTPTransport)


async def test_pytest_httpx_intercepts_the_production_transport(httpx_mock):
    httpx_mock.add_response(url="http://127.0.0.1:9/ping", text="pong")
    async with build_httpx_client("aiohttp") as client:
        response = await client.get("http://127.0.0.1:9/ping")
    assert response.text == "pong"


@pytest.mark.httpx_mock(should_mock=lambda request: False)
async def test_httpx_aiohttp_package_transport_is_invisible_to_pytest_httpx(httpx_mock):
    """Why we do not use httpx-aiohttp's AiohttpTransport: it bypasses pytest-httpx entirely
    (this request really goes to a closed port on 127.0.0.1)."""
    from httpx_aiohttp import AiohttpTransport

    assert not isinstance(AiohttpTransport(), httpx.AsyncHTTPTransport)
    async with build_httpx_client("httpx-aiohttp") as client:
        with pytest.raises(httpx.TransportError):
            await client.get("http://127.0.0.1:9/ping")
    assert httpx_mock.get_requests() == []


def test_transport_from_env(monkeypatch):
    monkeypatch.delenv("FINELINE_HTTP_TRANSPORT", raising=False)
    assert transport_from_env() == "aiohttp"
    monkeypatch.setenv("FINELINE_HTTP_TRANSPORT", "httpx")
    assert transport_from_env() == "httpx"
    monkeypatch.setenv("FINELINE_HTTP_TRANSPORT", "requests")
    with pytest.raises(ValueError):
        transport_from_env()


# --- message creation ---------------------------------------------------------------------------


async def test_create_message_sends_twilio_form_to_api_base(twilio, httpx_mock):
    httpx_mock.add_response(method="POST", url=MESSAGES_URL, status_code=201, json=message_json())

    message = await twilio.messages.create_async(
        to=RECIPIENT, from_=SENDER, body="Hello", status_callback=CALLBACK
    )

    assert message.sid == "SM" + "0123456789abcdef" * 2
    assert message.status == "queued"
    request = httpx_mock.get_request()
    assert request.method == "POST"
    assert str(request.url) == MESSAGES_URL
    assert form_of(request) == {
        "To": [RECIPIENT],
        "From": [SENDER],
        "Body": ["Hello"],
        "StatusCallback": [CALLBACK],
    }
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["X-Twilio-Host"] == "api.twilio.com"
    assert request.headers["User-Agent"].startswith("twilio-python/")
    assert len(request.headers.get_list("User-Agent")) == 1
    expected_auth = httpx.BasicAuth(ACCOUNT_SID, AUTH_TOKEN)._auth_header
    assert request.headers["Authorization"] == expected_auth


async def test_create_message_through_messaging_service(twilio, httpx_mock):
    service = "MG" + "b" * 32
    httpx_mock.add_response(
        method="POST",
        url=MESSAGES_URL,
        status_code=201,
        json=message_json(messaging_service_sid=service, status="accepted", **{"from": None}),
    )

    message = await twilio.messages.create_async(
        to=RECIPIENT, messaging_service_sid=service, body="Hi there", status_callback=CALLBACK
    )

    assert message.status == "accepted"
    assert form_of(httpx_mock.get_request()) == {
        "To": [RECIPIENT],
        "MessagingServiceSid": [service],
        "Body": ["Hi there"],
        "StatusCallback": [CALLBACK],
    }


async def test_compressed_answers_are_decoded(twilio, httpx_mock):
    import gzip
    import json

    httpx_mock.add_response(
        method="POST",
        url=MESSAGES_URL,
        status_code=201,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        # stream=, not content=: pytest-httpx decodes content= once already, and gzip won't twice.
        stream=IteratorStream([gzip.compress(json.dumps(message_json(body="héllo")).encode())]),
    )
    message = await twilio.messages.create_async(to=RECIPIENT, from_=SENDER, body="héllo")
    assert message.body == "héllo"


async def test_full_client_path_sends_the_same_request(httpx_mock):
    httpx_mock.add_response(method="POST", url=MESSAGES_URL, status_code=201, json=message_json())
    async with HttpxTwilioClient(api_base=API_BASE, lean=False) as http:
        assert http.lean is False
        await Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http).messages.create_async(
            to=RECIPIENT, from_=SENDER, body="Hello"
        )
    request = httpx_mock.get_request()
    assert form_of(request) == {"To": [RECIPIENT], "From": [SENDER], "Body": ["Hello"]}
    assert request.headers["Authorization"].startswith("Basic ")


async def test_given_client_with_event_hooks_is_honoured(httpx_mock):
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request.url.path)

    httpx_mock.add_response(method="POST", url=MESSAGES_URL, status_code=201, json=message_json())
    client = build_httpx_client("aiohttp")
    client.event_hooks = {"request": [hook]}
    http = HttpxTwilioClient(client, api_base=API_BASE)
    assert http.lean is False
    await Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http).messages.create_async(
        to=RECIPIENT, from_=SENDER, body="Hello"
    )
    await http.aclose()
    assert not client.is_closed  # a given client belongs to its owner
    await client.aclose()
    assert seen == [f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"]


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "payload", "expected", "code"),
    [
        (429, twilio_error(20429, 429, "Too Many Requests"), ProviderThrottled, 20429),
        (429, {"message": "Too Many Requests"}, ProviderThrottled, None),
        (500, twilio_error(20500, 500, "Internal Server Error"), ProviderUnknownOutcome, 20500),
        (503, None, ProviderUnknownOutcome, None),
        (
            400,
            twilio_error(21610, 400, "Attempt to send to unsubscribed recipient"),
            RecipientOptedOut,
            21610,
        ),
        (400, twilio_error(21211, 400, "Invalid 'To' Phone Number"), InvalidRecipient, 21211),
        (400, twilio_error(21614, 400, "'To' number is not a valid mobile number"), InvalidRecipient, 21614),
        (401, twilio_error(20003, 401, "Authenticate"), ProviderAuthError, 20003),
        (404, twilio_error(20404, 404, "The requested resource was not found"), ProviderNotFound, 20404),
        (400, twilio_error(21602, 400, "Message body is required."), ProviderRejected, 21602),
    ],
)
async def test_error_answers_become_typed_errors(twilio, httpx_mock, status, payload, expected, code):
    if payload is None:
        httpx_mock.add_response(method="POST", url=MESSAGES_URL, status_code=status, text="<html>busy</html>")
    else:
        httpx_mock.add_response(method="POST", url=MESSAGES_URL, status_code=status, json=payload)

    with pytest.raises(expected) as caught, translating():
        await twilio.messages.create_async(to=RECIPIENT, from_=SENDER, body="Hello")

    error = caught.value
    assert type(error) is expected
    assert error.status == status
    assert error.code == code
    assert error.method == "POST"
    assert isinstance(error.__cause__, TwilioRestException)
    assert len(httpx_mock.get_requests()) == 1, "no retries at this layer"


def test_only_throttling_and_unavailability_are_safe_to_retry():
    assert ProviderThrottled.safe_to_retry and ProviderUnavailable.safe_to_retry
    for cls in (
        ProviderUnknownOutcome,
        RecipientOptedOut,
        InvalidRecipient,
        ProviderAuthError,
        ProviderNotFound,
        ProviderRejected,
        ProviderError,
    ):
        assert not cls.safe_to_retry, cls


@pytest.mark.parametrize(
    ("exception", "expected"),
    [
        (httpx.ReadTimeout("timed out"), ProviderUnknownOutcome),
        (httpx.WriteTimeout("timed out"), ProviderUnknownOutcome),
        (httpx.RemoteProtocolError("Server disconnected"), ProviderUnknownOutcome),
        (httpx.ReadError("connection reset"), ProviderUnknownOutcome),
        (httpx.ConnectError("connection refused"), ProviderUnavailable),
        (httpx.ConnectTimeout("timed out"), ProviderUnavailable),
        (httpx.PoolTimeout("no connection free"), ProviderUnavailable),
    ],
)
async def test_transport_failures_become_typed_errors(twilio, httpx_mock, exception, expected):
    httpx_mock.add_exception(exception, method="POST", url=MESSAGES_URL)

    with pytest.raises(expected) as caught, translating():
        await twilio.messages.create_async(to=RECIPIENT, from_=SENDER, body="Hello")

    assert caught.value.method == "POST"
    assert caught.value.uri == MESSAGES_URL
    assert caught.value.__cause__ is exception
    assert len(httpx_mock.get_requests()) == 1, "no retries at this layer"


def test_translate_unknown_exceptions_conservatively():
    assert isinstance(translate(RuntimeError("boom")), ProviderUnknownOutcome)
    already = ProviderThrottled("slow down", code=20429, status=429)
    assert translate(already) is already
    assert "code 20429" in str(already)


# --- URL rewriting, reads, pagination -----------------------------------------------------------


def test_rewrite_url_maps_every_twilio_host_to_api_base():
    http = HttpxTwilioClient(httpx.AsyncClient(), api_base=API_BASE + "/")
    assert http.rewrite_url("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?PageSize=5") == (
        f"{API_BASE}/2010-04-01/Accounts/AC1/Messages.json?PageSize=5",
        "api.twilio.com",
    )
    assert http.rewrite_url("https://messaging.twilio.com/v1/Services") == (
        f"{API_BASE}/v1/Services",
        "messaging.twilio.com",
    )
    assert http.rewrite_url("https://api.dublin.ie1.twilio.com/2010-04-01/x") == (
        f"{API_BASE}/2010-04-01/x",
        "api.dublin.ie1.twilio.com",
    )
    assert http.rewrite_url("https://example.com/twilio.com/x") == ("https://example.com/twilio.com/x", None)
    assert http.rewrite_url("https://eviltwilio.com/x") == ("https://eviltwilio.com/x", None)


def test_api_base_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("FINELINE_TWILIO_API_BASE", "http://127.0.0.1:8765")
    assert HttpxTwilioClient(httpx.AsyncClient()).api_base == "http://127.0.0.1:8765"
    assert HttpxTwilioClient(httpx.AsyncClient(), api_base=None).api_base is None
    monkeypatch.setenv("FINELINE_TWILIO_API_BASE", "")
    assert HttpxTwilioClient(httpx.AsyncClient()).api_base is None


@pytest.mark.parametrize("base", [None, "", "https://api.twilio.com", "https://api.twilio.com/"])
def test_twilio_itself_as_api_base_means_no_rewriting(base):
    http = HttpxTwilioClient(httpx.AsyncClient(), api_base=base)
    assert http.api_base is None
    url = "https://messaging.twilio.com/v1/Services"
    assert http.rewrite_url(url) == (url, None)


async def test_without_api_base_requests_go_to_twilio(httpx_mock, monkeypatch):
    monkeypatch.delenv("FINELINE_TWILIO_API_BASE", raising=False)
    url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    httpx_mock.add_response(method="POST", url=url, status_code=201, json=message_json())
    async with HttpxTwilioClient() as http:
        await Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http).messages.create_async(
            to=RECIPIENT, from_=SENDER, body="Hello"
        )
    assert "X-Twilio-Host" not in httpx_mock.get_request().headers


async def test_messaging_domain_is_rewritten_too(twilio, httpx_mock):
    httpx_mock.add_response(
        method="GET",
        url=f"{API_BASE}/v1/Services",
        json={"services": [], "meta": {"page": 0, "page_size": 50, "next_page_url": None, "key": "services"}},
    )
    assert await twilio.messaging.v1.services.list_async() == []
    assert httpx_mock.get_request().headers["X-Twilio-Host"] == "messaging.twilio.com"


async def test_incoming_numbers_list_follows_pages(twilio, httpx_mock):
    base = f"/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json"

    def page(numbers: list[str], page: int, next_uri: str | None) -> dict[str, object]:
        return {
            "incoming_phone_numbers": [
                {
                    "sid": f"PN{i:032x}",
                    "phone_number": n,
                    "account_sid": ACCOUNT_SID,
                    "capabilities": {"sms": True, "mms": True, "voice": True, "fax": False},
                }
                for i, n in enumerate(numbers)
            ],
            "page": page,
            "page_size": 2,
            "start": page * 2,
            "end": page * 2 + len(numbers) - 1,
            "first_page_uri": f"{base}?PageSize=2&Page=0",
            "next_page_uri": next_uri,
            "previous_page_uri": None,
            "uri": f"{base}?PageSize=2&Page={page}",
        }

    httpx_mock.add_response(
        url=f"{API_BASE}{base}?PageSize=2",
        json=page(["+15005550006", "+15005550007"], 0, f"{base}?PageSize=2&Page=1"),
    )
    httpx_mock.add_response(url=f"{API_BASE}{base}?PageSize=2&Page=1", json=page(["+15005550008"], 1, None))

    numbers = await twilio.api.v2010.account.incoming_phone_numbers.list_async(page_size=2)

    assert [n.phone_number for n in numbers] == ["+15005550006", "+15005550007", "+15005550008"]
    assert all(r.method == "GET" for r in httpx_mock.get_requests())


# --- the aiohttp pool on real sockets (pytest-httpx lets these through) -------------------------


def _load_fake_twilio():
    path = Path(__file__).resolve().parents[2] / "scripts" / "fake_twilio.py"
    spec = importlib.util.spec_from_file_location("fake_twilio", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fake_twilio", module)
    spec.loader.exec_module(module)
    return module


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


real_sockets = pytest.mark.httpx_mock(should_mock=lambda request: False)


@real_sockets
async def test_aiohttp_pool_against_fake_twilio():
    fake = _load_fake_twilio()
    app = fake.build_app(
        fake.FakeTwilioConfig(
            owned=["+15005550006", "+15005550007"], opted_out={"+15550000000"}, auth_token=AUTH_TOKEN
        )
    )
    runner, base = await _serve(app)
    try:
        async with HttpxTwilioClient(api_base=base, transport="aiohttp", max_in_flight=16) as http:
            twilio = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http)
            sent = await asyncio.gather(
                *(
                    twilio.messages.create_async(
                        to=f"+1555123{i:04d}", from_=SENDER, body=f"n{i}", status_callback=CALLBACK
                    )
                    for i in range(40)
                )
            )
            assert len({m.sid for m in sent}) == 40
            assert all(m.sid.startswith("SM") and len(m.sid) == 34 for m in sent)
            numbers = await twilio.api.v2010.account.incoming_phone_numbers.list_async()
            assert [n.phone_number for n in numbers] == ["+15005550006", "+15005550007"]
            listed = await twilio.messages.list_async(page_size=15)
            assert len(listed) == 40
            with pytest.raises(RecipientOptedOut), translating():
                await twilio.messages.create_async(to="+15550000000", from_=SENDER, body="x")
            with pytest.raises(ProviderAuthError), translating():
                await Client(ACCOUNT_SID, "wrong", http_client=http).messages.create_async(
                    to=RECIPIENT, from_=SENDER, body="x"
                )
        stats = app[fake.STATE_KEY].stats()
        assert stats["accepted"] == 40
        assert stats["per_sender_total"] == {SENDER: 40}
        recorded = app[fake.STATE_KEY].requests[0]
        assert recorded.status_callback == CALLBACK
    finally:
        await runner.cleanup()


@real_sockets
async def test_aiohttp_pool_connection_refused_is_unavailable():
    with socket_closed_port() as port:
        async with HttpxTwilioClient(api_base=f"http://127.0.0.1:{port}", transport="aiohttp") as http:
            with pytest.raises(ProviderUnavailable), translating():
                await Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http).messages.create_async(
                    to=RECIPIENT, from_=SENDER, body="x"
                )


@real_sockets
async def test_aiohttp_pool_read_timeout_is_unknown_outcome():
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response(message_json(), status=201)

    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", slow)
    runner, base = await _serve(app)
    try:
        async with HttpxTwilioClient(api_base=base, transport="aiohttp", timeout=0.2) as http:
            with pytest.raises(ProviderUnknownOutcome) as caught, translating():
                await Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http).messages.create_async(
                    to=RECIPIENT, from_=SENDER, body="x"
                )
        assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    finally:
        release.set()
        await runner.cleanup()


@real_sockets
async def test_aiohttp_pool_disconnect_after_send_is_unknown_outcome():
    """httpx-aiohttp maps this to httpx.ConnectTimeout ("never sent"); we must not."""

    async def drop(request: web.Request) -> web.Response:
        await request.read()
        request.transport.close()
        return web.Response()

    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", drop)
    runner, base = await _serve(app)
    try:
        async with HttpxTwilioClient(api_base=base, transport="aiohttp") as http:
            with pytest.raises(ProviderUnknownOutcome) as caught, translating():
                await Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http).messages.create_async(
                    to=RECIPIENT, from_=SENDER, body="x"
                )
        assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError | httpx.ReadError)
    finally:
        await runner.cleanup()


class socket_closed_port:
    """A loopback port with nothing listening (bound, then released)."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def __exit__(self, *exc_info: object) -> None:
        return None
