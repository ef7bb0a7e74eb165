#!/usr/bin/env python
"""A small, fast, Twilio-compatible HTTP server for benchmarks and load tests.

Only ever binds to the loopback interface. Run it with::

    python scripts/fake_twilio.py --port 8765 --latency-ms 100 --jitter-ms 10

Point Fineline at it with ``FINELINE_TWILIO_API_BASE=http://127.0.0.1:8765``: our Twilio HTTP
client maps every ``https://<product>.twilio.com/<path>`` to ``<api_base>/<path>``.

What it serves (Twilio's JSON shapes, trimmed to what Fineline reads):

* ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` -> 201 message (``SM`` + 32 hex, "queued")
* ``GET  /2010-04-01/Accounts/{AccountSid}/Messages.json`` -> a page of the messages created
* ``GET  /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json`` -> one message
* ``GET  /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json`` -> numbers from ``--owned``
* ``GET  /_stats`` -> counters, and the peak messages per second seen per sender (From or
  MessagingServiceSid)
* ``POST /_reset`` -> forget everything recorded

Failure injection: ``--error-rate-429`` (code 20429, Twilio's "too many requests"),
``--error-rate-500`` (code 20500), ``--opted-out`` numbers answer 400 code 21610, ``--auth-token``
makes a wrong Basic password answer 401 code 20003. Errors are decided after the latency sleep, as a
real provider would answer them.

The module is importable: ``build_app(FakeTwilioConfig(...))`` gives an aiohttp ``Application`` so
tests and load tests can run it inside their own event loop (``aiohttp.test_utils.TestServer`` or
``web.AppRunner``), and ``app[STATE_KEY]`` holds what was recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import os
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from aiohttp import web

API_VERSION = "2010-04-01"


@dataclass
class FakeTwilioConfig:
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate_429: float = 0.0
    error_rate_500: float = 0.0
    owned: list[str] = field(default_factory=lambda: ["+15005550006"])
    opted_out: set[str] = field(default_factory=set)
    auth_token: str | None = None  # None: accept any credentials (but Basic auth is still required)
    seed: int | None = None


class RecordedRequest(NamedTuple):
    t: float  # time.time() when the request arrived
    from_: str | None
    to: str | None
    messaging_service_sid: str | None
    status_callback: str | None
    status: int  # HTTP status answered


class FakeTwilioState:
    """Everything the server saw. Kept small per request so millions fit in memory."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.messages: dict[str, dict[str, Any]] = {}
        self.message_order: list[str] = []
        self.by_status: Counter[int] = Counter()
        # sender (From, or MessagingServiceSid when From is absent) -> {epoch second -> count}
        self.per_second: defaultdict[str, Counter[int]] = defaultdict(Counter)
        self.in_flight = 0
        self.max_in_flight = 0
        self.started = time.time()

    def record(self, req: RecordedRequest) -> None:
        self.requests.append(req)
        self.by_status[req.status] += 1
        if req.status < 300:
            sender = req.from_ or req.messaging_service_sid or "?"
            self.per_second[sender][int(req.t)] += 1

    def stats(self) -> dict[str, Any]:
        accepted = sum(n for s, n in self.by_status.items() if s < 300)
        peaks = {sender: max(c.values()) for sender, c in self.per_second.items() if c}
        if self.requests:
            first, last = self.requests[0].t, self.requests[-1].t
        else:
            first = last = None
        return {
            "requests": len(self.requests),
            "accepted": accepted,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "senders": len(self.per_second),
            "per_sender_total": {s: sum(c.values()) for s, c in self.per_second.items()},
            "per_sender_peak_per_second": peaks,
            "max_in_flight": self.max_in_flight,
            "first_request_at": first,
            "last_request_at": last,
            "uptime_s": round(time.time() - self.started, 3),
        }

    def reset(self) -> None:
        self.__init__()


STATE_KEY = web.AppKey("fake_twilio_state", FakeTwilioState)
CONFIG_KEY = web.AppKey("fake_twilio_config", FakeTwilioConfig)
RNG_KEY = web.AppKey("fake_twilio_rng", random.Random)


def _rfc2822(ts: float) -> str:
    return formatdate(ts, usegmt=True).replace("GMT", "+0000")


def _json(status: int, payload: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=json.dumps(payload).encode(), content_type="application/json")


def _error(status: int, code: int, message: str) -> web.Response:
    return _json(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


def _check_auth(request: web.Request, account_sid: str, config: FakeTwilioConfig) -> web.Response | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return _error(401, 20003, "Authenticate")
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return _error(401, 20003, "Authenticate")
    if config.auth_token is not None and (user != account_sid or password != config.auth_token):
        return _error(401, 20003, "Authenticate")
    return None


async def _sleep_latency(config: FakeTwilioConfig, rng: random.Random) -> None:
    delay = config.latency_ms
    if config.jitter_ms:
        delay += rng.uniform(-config.jitter_ms, config.jitter_ms)
    if delay > 0:
        await asyncio.sleep(delay / 1000.0)


async def create_message(request: web.Request) -> web.Response:
    app = request.app
    state, config, rng = app[STATE_KEY], app[CONFIG_KEY], app[RNG_KEY]
    account_sid = request.match_info["account_sid"]
    arrived = time.time()
    state.in_flight += 1
    if state.in_flight > state.max_in_flight:
        state.max_in_flight = state.in_flight
    try:
        form = dict(parse_qsl((await request.read()).decode(), keep_blank_values=True))
        to = form.get("To")
        from_ = form.get("From")
        mss = form.get("MessagingServiceSid")
        callback = form.get("StatusCallback")
        await _sleep_latency(config, rng)

        response = _check_auth(request, account_sid, config)
        if response is None:
            response = _validate(form, config)
        if response is None and (config.error_rate_429 or config.error_rate_500):
            roll = rng.random()
            if roll < config.error_rate_429:
                response = _error(429, 20429, "Too Many Requests")
            elif roll < config.error_rate_429 + config.error_rate_500:
                response = _error(500, 20500, "Internal Server Error")
        if response is None:
            message = _message_json(account_sid, form, arrived)
            state.messages[message["sid"]] = message
            state.message_order.append(message["sid"])
            response = _json(201, message)
        state.record(RecordedRequest(arrived, from_, to, mss, callback, response.status))
        return response
    finally:
        state.in_flight -= 1


def _validate(form: dict[str, str], config: FakeTwilioConfig) -> web.Response | None:
    to = form.get("To")
    if not to:
        return _error(400, 21604, "A 'To' phone number is required.")
    if not (form.get("From") or form.get("MessagingServiceSid")):
        return _error(400, 21603, "A 'From' phone number is required.")
    if not (form.get("Body") or form.get("MediaUrl") or form.get("ContentSid")):
        return _error(400, 21602, "Message body is required.")
    if not (to.startswith("+") and to[1:].isdigit() and 8 <= len(to) <= 16):
        return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if to in config.opted_out:
        return _error(400, 21610, "Attempt to send to unsubscribed recipient")
    return None


def _message_json(account_sid: str, form: dict[str, str], arrived: float) -> dict[str, Any]:
    sid = "SM" + os.urandom(16).hex()
    body = form.get("Body", "")
    created = _rfc2822(arrived)
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": body,
        "date_created": created,
        "date_sent": None,
        "date_updated": created,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": form.get("From"),
        "messaging_service_sid": form.get("MessagingServiceSid"),
        "num_media": "0",
        "num_segments": str(1 if len(body) <= 160 else -(-len(body) // 153)),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "accepted" if form.get("MessagingServiceSid") and not form.get("From") else "queued",
        "subresource_uris": {"media": f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}/Media.json"},
        "to": form.get("To"),
        "uri": f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json",
    }


def _page(request: web.Request, key: str, items: list[dict[str, Any]]) -> web.Response:
    try:
        page_size = max(1, min(1000, int(request.query.get("PageSize", "50"))))
        page = max(0, int(request.query.get("Page", "0")))
    except ValueError:
        return _error(400, 20001, "Invalid paging parameters")
    start = page * page_size
    chunk = items[start : start + page_size]
    base = request.path
    has_next = start + page_size < len(items)
    return _json(
        200,
        {
            key: chunk,
            "end": start + len(chunk) - 1 if chunk else 0,
            "first_page_uri": f"{base}?PageSize={page_size}&Page=0",
            "next_page_uri": f"{base}?PageSize={page_size}&Page={page + 1}" if has_next else None,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": f"{base}?PageSize={page_size}&Page={page - 1}" if page else None,
            "start": start,
            "uri": f"{base}?PageSize={page_size}&Page={page}",
        },
    )


async def list_messages(request: web.Request) -> web.Response:
    state, config = request.app[STATE_KEY], request.app[CONFIG_KEY]
    account_sid = request.match_info["account_sid"]
    if (denied := _check_auth(request, account_sid, config)) is not None:
        return denied
    to, from_ = request.query.get("To"), request.query.get("From")
    items = []
    for sid in reversed(state.message_order):  # newest first, like Twilio
        message = state.messages[sid]
        if message["account_sid"] != account_sid:
            continue
        if (to and message["to"] != to) or (from_ and message["from"] != from_):
            continue
        items.append(message)
    return _page(request, "messages", items)


async def fetch_message(request: web.Request) -> web.Response:
    state, config = request.app[STATE_KEY], request.app[CONFIG_KEY]
    account_sid = request.match_info["account_sid"]
    if (denied := _check_auth(request, account_sid, config)) is not None:
        return denied
    message = state.messages.get(request.match_info["sid"])
    if message is None or message["account_sid"] != account_sid:
        return _error(404, 20404, f"The requested resource {request.path} was not found")
    return _json(200, message)


def _number_json(account_sid: str, index: int, number: str) -> dict[str, Any]:
    sid = "PN" + f"{index:032x}"
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "capabilities": {"fax": False, "mms": True, "sms": True, "voice": True},
        "friendly_name": number,
        "phone_number": number,
        "sid": sid,
        "sms_url": "",
        "status": "in-use",
        "uri": f"/{API_VERSION}/Accounts/{account_sid}/IncomingPhoneNumbers/{sid}.json",
    }


async def list_incoming_numbers(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    account_sid = request.match_info["account_sid"]
    if (denied := _check_auth(request, account_sid, config)) is not None:
        return denied
    wanted = request.query.get("PhoneNumber")
    items = [_number_json(account_sid, i, n) for i, n in enumerate(config.owned) if not wanted or n == wanted]
    return _page(request, "incoming_phone_numbers", items)


async def get_stats(request: web.Request) -> web.Response:
    return _json(200, request.app[STATE_KEY].stats())


async def post_reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return _json(200, {"reset": True})


def build_app(config: FakeTwilioConfig | None = None) -> web.Application:
    config = config or FakeTwilioConfig()
    app = web.Application()
    app[CONFIG_KEY] = config
    app[STATE_KEY] = FakeTwilioState()
    app[RNG_KEY] = random.Random(config.seed)
    accounts = f"/{API_VERSION}/Accounts/{{account_sid}}"
    app.router.add_post(f"{accounts}/Messages.json", create_message)
    app.router.add_get(f"{accounts}/Messages.json", list_messages)
    app.router.add_get(f"{accounts}/Messages/{{sid}}.json", fetch_message)
    app.router.add_get(f"{accounts}/IncomingPhoneNumbers.json", list_incoming_numbers)
    app.router.add_get("/_stats", get_stats)
    app.router.add_post("/_reset", post_reset)
    return app


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--host", default="127.0.0.1", choices=["127.0.0.1", "localhost", "::1"], help="loopback only"
    )
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--jitter-ms", type=float, default=0.0)
    p.add_argument("--error-rate-429", type=float, default=0.0)
    p.add_argument("--error-rate-500", type=float, default=0.0)
    p.add_argument("--owned", default="+15005550006", help="comma-separated E.164 numbers the account owns")
    p.add_argument("--opted-out", default="", help="comma-separated numbers that answer 21610")
    p.add_argument("--auth-token", default=None, help="require this auth token (default: accept any)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--no-uvloop", action="store_true")
    p.add_argument("--backlog", type=int, default=2048)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = FakeTwilioConfig(
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        error_rate_429=args.error_rate_429,
        error_rate_500=args.error_rate_500,
        owned=_split(args.owned),
        opted_out=set(_split(args.opted_out)),
        auth_token=args.auth_token,
        seed=args.seed,
    )
    loop_factory = None
    if not args.no_uvloop:
        try:
            import uvloop

            loop_factory = uvloop.new_event_loop
        except ImportError:
            pass
    print(
        f"fake_twilio listening on http://{args.host}:{args.port} "
        f"(latency {config.latency_ms}±{config.jitter_ms} ms, uvloop={loop_factory is not None})",
        file=sys.stderr,
        flush=True,
    )
    web.run_app(
        build_app(config),
        host=args.host,
        port=args.port,
        backlog=args.backlog,
        access_log=None,
        print=None,
        handle_signals=True,
        loop=loop_factory() if loop_factory else None,
    )


if __name__ == "__main__":
    main()
