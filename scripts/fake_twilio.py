#!/usr/bin/env python
"""A small, fast, Twilio-compatible HTTP server for benchmarks and load tests.

Only ever binds to the loopback interface, and only ever posts status callbacks to loopback URLs.
Run it with::

    python scripts/fake_twilio.py --port 8765 --latency-ms 100 --jitter-ms 10 --auth-token secret

Point Fineline at it with ``FINELINE_TWILIO_API_BASE=http://127.0.0.1:8765``: our Twilio HTTP
client maps every ``https://<product>.twilio.com/<path>`` to ``<api_base>/<path>``.

What it serves (Twilio's JSON shapes, trimmed to what Fineline reads):

* ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` -> 201 message (``SM`` + 32 hex, "queued")
* ``GET  /2010-04-01/Accounts/{AccountSid}/Messages.json`` -> a page of the messages created, newest
  first, filtered by ``To``, ``From`` and ``DateSent>=`` / ``DateSent<=`` / ``DateSent=`` as Twilio
  does (the SDK's ``messages.list(to=..., date_sent_after=...)`` sends ``DateSent>=<ISO 8601>``)
* ``GET  /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json`` -> one message
* ``GET  /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json`` -> numbers from ``--owned``
* ``GET  /2010-04-01/Accounts/{AccountSid}/SMS/ShortCodes.json`` -> short codes from ``--short-codes``
* ``GET  /_stats`` -> counters, and the peak messages per second seen per sender (From or
  MessagingServiceSid) in fixed epoch seconds
* ``GET  /_requests?summary=1`` -> per-To counts (``per_to`` when at most 1,000 numbers or with
  ``&per_to=1``; always a histogram), the duplicates (the same To, or the same ``m`` message id of
  the StatusCallback URL, accepted more than once), per sender the total and the peak count in any
  sliding 1 s window (monotonic clock), the server-side service time p50/p99 and the mean number of
  creates in flight
* ``GET  /_requests[?offset=N&limit=M]`` -> every create request as a row: monotonic arrival and
  answer times, From, MessagingServiceSid, To, ``m``, HTTP status
* ``POST /_reset`` -> forget everything recorded

Status callbacks (``--callback-delay-ms``, default 1000; ``--no-callbacks`` to disable): for every
accepted create carrying a StatusCallback, the server posts ``sent`` after the delay and
``delivered`` after another (``--callback-spread S``: each delay drawn uniformly from delay × (1 ± S),
as carriers' reports spread, rather than every message created together calling back together), form-encoded like Twilio and signed with the twilio package's
``RequestValidator`` using ``--auth-token`` (``X-Twilio-Signature``). A callback URL's fragment
(Twilio's connection overrides, ``#rc=3&rp=all``) is neither sent nor signed, and says how often a
failed callback (refused, timed out, 5xx) is retried, as Twilio does. At most
``--callback-concurrency`` callback POSTs are in flight; at most ``--callback-queue`` wait (beyond
that they are dropped and counted). Callbacks to a non-loopback host are never sent (counted).

An *outage* (``state.outage``, switched at run time by tests that embed the server): every create
answers 500 code 20500 — half of them (a seeded RNG decides) after really accepting the message,
the answer only lost, the dangerous case — and listing messages answers 500, so nothing can be
reconciled until it ends. ``state.posts`` is the ground truth tests count: every create attempt
as (To, created at the provider?); ``state.lists`` counts the listings.

Failure injection: ``--error-rate-429`` (code 20429, Twilio's "too many requests"),
``--error-rate-500`` (code 20500), ``--opted-out`` numbers answer 400 code 21610, ``--auth-token``
makes a wrong Basic password answer 401 code 20003. Errors are decided after the latency sleep, as a
real provider would answer them.

The module is importable: ``build_app(FakeTwilioConfig(...))`` gives an aiohttp ``Application`` so
tests and load tests can run it inside their own event loop (``aiohttp.test_utils.TestServer`` or
``web.AppRunner``), and ``app[STATE_KEY]`` holds what was recorded. Embedded, callbacks are off
unless ``FakeTwilioConfig(callbacks=True)``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import heapq
import json
import os
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

from aiohttp import web

API_VERSION = "2010-04-01"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
DEFAULT_SHORT_CODES = ["12345", "67890"]


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
    short_codes: list[str] = field(default_factory=lambda: list(DEFAULT_SHORT_CODES))
    # Status callbacks (off when embedded, so tests never post anywhere unless they ask).
    callbacks: bool = False
    callback_delay_ms: float = 1000.0
    callback_spread: float = 0.0  # each delay drawn from delay × (1 ± spread); 0: exactly the delay
    callback_concurrency: int = 64
    callback_queue: int = 200_000
    callback_timeout_s: float = 15.0  # Twilio's own timeout
    # Carrier registration of the owned numbers: "approved" (the default), "pending", "rejected" or
    # "missing". A US long code sits in a Messaging Service of its own with one A2P 10DLC campaign; a
    # toll-free number has a toll-free verification. Messages from a number that is not approved are
    # accepted, then fail at the carrier: undelivered 30034 (long code) or 30032 (toll-free).
    registration: dict[str, str] = field(default_factory=dict)
    a2p_mps: int | None = None  # the A2P campaign's rate_limits (none: the sender keeps its own MPS)
    daily_cap: int | None = None


class RecordedRequest(NamedTuple):
    t: float  # time.time() when the request arrived
    from_: str | None
    to: str | None
    messaging_service_sid: str | None
    status_callback: str | None
    status: int  # HTTP status answered
    mono: float = 0.0  # time.monotonic() when the request arrived
    answered: float = 0.0  # time.monotonic() when the answer was ready
    message_id: str | None = None  # the ``m`` query parameter of StatusCallback (Fineline's message id)
    sid: str | None = None  # the MessageSid given, when accepted


class StoredMessage(NamedTuple):
    """Compact: a million of these fit in a few hundred MB; the JSON is built when listed."""

    sid: str
    account_sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    created: float  # epoch seconds


def _message_id(callback: str | None) -> str | None:
    if not callback or "m=" not in callback:
        return None
    for key, value in parse_qsl(callback.partition("?")[2]):
        if key == "m":
            return value
    return None


class FakeTwilioState:
    """Everything the server saw. Kept small per request so millions fit in memory."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.messages: dict[str, StoredMessage] = {}
        self.message_order: list[str] = []
        self.by_to: defaultdict[str, list[str]] = defaultdict(list)
        self.by_status: Counter[int] = Counter()
        # sender (From, or MessagingServiceSid when From is absent) -> {epoch second -> count}
        self.per_second: defaultdict[str, Counter[int]] = defaultdict(Counter)
        self.in_flight = 0
        self.max_in_flight = 0
        self.started = time.time()
        self.callbacks: Counter[str] = Counter()  # scheduled, posted, answered_2xx, failed, dropped, ...
        self.callback_latencies: list[float] = []  # seconds, each callback answered 2xx
        self.last_callback_answered: float | None = None  # time.monotonic()
        self._bodies: dict[str, str] = {}
        self.outage = False
        self.outage_rng = random.Random(7)
        self.lists = 0

    @property
    def posts(self) -> list[tuple[str, bool]]:
        """Every create attempt: (To, created at the provider?)."""
        return [(req.to or "", req.sid is not None) for req in self.requests]

    def posts_by_to(self) -> Counter[str]:
        return Counter(to for to, _ in self.posts)

    def created_by_to(self) -> Counter[str]:
        """Messages that really exist at the provider, per recipient."""
        return Counter(message.to for message in self.messages.values())

    def sid_by_to(self) -> dict[str, str]:
        return {message.to: sid for sid, message in self.messages.items()}

    def intern_body(self, body: str) -> str:
        cached = self._bodies.get(body)
        if cached is not None:
            return cached
        if len(self._bodies) < 10_000:
            self._bodies[body] = body
        return body

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
            "callbacks": dict(self.callbacks),
            "callback_ms": self.callback_quantiles(),
            "last_callback_answered_mono": self.last_callback_answered,
        }

    def callback_quantiles(self) -> dict[str, float | None]:
        ordered = sorted(self.callback_latencies)
        return {q: round(_quantile(ordered, v) * 1000, 2) if ordered else None
                for q, v in (("p50", 0.5), ("p99", 0.99), ("max", 1.0))}

    def summary(self, *, per_to: bool = False, max_duplicates: int = 1000) -> dict[str, Any]:
        """Counts per To, duplicates, and per sender the peak in any sliding 1 s window."""
        accepted = [r for r in self.requests if r.status < 300]
        to_counts = Counter(r.to for r in accepted)
        id_counts = Counter(r.message_id for r in accepted if r.message_id is not None)
        dup_to = [{"to": to, "count": n} for to, n in to_counts.items() if n > 1]
        dup_ids = [{"m": m, "count": n} for m, n in id_counts.items() if n > 1]
        senders: dict[str, list[float]] = defaultdict(list)
        for r in accepted:
            senders[r.from_ or r.messaging_service_sid or "?"].append(r.mono)
        per_sender = {}
        for sender, times in senders.items():
            times.sort()
            peak, peak_at, lo = 0, times[0], 0
            for hi, t in enumerate(times):  # the window [t - 1 s, t] ending at each request
                while times[lo] <= t - 1.0:
                    lo += 1
                if hi - lo + 1 > peak:
                    peak, peak_at = hi - lo + 1, times[lo]
            span = times[-1] - times[0]
            per_sender[sender] = {
                "total": len(times),
                "peak_1s_sliding": peak,
                "peak_window_start_mono": peak_at,
                "first_mono": times[0],
                "last_mono": times[-1],
                "mean_per_s": round((len(times) - 1) / span, 1) if span > 0 else None,
            }
        service = sorted(r.answered - r.mono for r in self.requests if r.answered)
        mono = [r.mono for r in self.requests]
        window = (max(r.answered for r in self.requests) - min(mono)) if self.requests else 0.0
        summary: dict[str, Any] = {
            "requests": len(self.requests),
            "accepted": len(accepted),
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "distinct_to": len(to_counts),
            "to_count_histogram": {str(k): v for k, v in sorted(Counter(to_counts.values()).items())},
            "duplicates": {
                "to": len(dup_to),
                "message_id": len(dup_ids),
                "to_list": dup_to[:max_duplicates],
                "message_id_list": dup_ids[:max_duplicates],
            },
            "per_sender": per_sender,
            "service_ms": {
                "p50": round(_quantile(service, 0.50) * 1000, 2) if service else None,
                "p99": round(_quantile(service, 0.99) * 1000, 2) if service else None,
                "max": round(service[-1] * 1000, 2) if service else None,
            },
            "first_mono": min(mono) if mono else None,
            "last_mono": max(mono) if mono else None,
            "max_in_flight": self.max_in_flight,
            "mean_in_flight": round(sum(service) / window, 1) if window > 0 else None,
            "callbacks": dict(self.callbacks),
            "now_mono": time.monotonic(),
        }
        if per_to or len(to_counts) <= 1000:
            summary["per_to"] = dict(to_counts)
        return summary

    def reset(self) -> None:
        callbacks, latencies = self.callbacks, self.callback_latencies
        self.__init__()
        self.callbacks, self.callback_latencies = callbacks, latencies  # the pipeline keeps counting
        self.callbacks.clear()
        self.callback_latencies.clear()


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class CallbackSender:
    """Posts ``sent`` then ``delivered`` for each accepted message, signed, bounded in flight.

    A heap ordered by due time, released by one task into a queue that ``concurrency`` posting tasks
    drain; no task per message. With ``callback_spread`` each callback's delay varies, as carriers'
    reports do, instead of every message created in the same instant calling back in the same instant.
    The posts go over kept-alive connections of a minimal HTTP/1.1 client (``_KeepAlivePool``).
    """

    def __init__(self, config: FakeTwilioConfig, state: FakeTwilioState) -> None:
        from twilio.request_validator import RequestValidator

        self.config, self.state = config, state
        self.validator = RequestValidator(config.auth_token or "")
        # (due, sequence, status, url, message): a heap, since with a spread a later callback can be due first
        self.due: list[tuple[float, int, str, str, StoredMessage]] = []
        self.ready: asyncio.Queue[tuple[float, int, str, str, StoredMessage]] = asyncio.Queue()
        self.seq = 0
        self.wakeup = asyncio.Event()
        self.delay = config.callback_delay_ms / 1000.0
        self.spread = config.callback_spread
        self.rng = random.Random(config.seed)
        self.pool = _KeepAlivePool(max(1, config.callback_concurrency), config.callback_timeout_s)
        self.tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        self.tasks = [asyncio.create_task(self._run()) for _ in range(max(1, self.config.callback_concurrency))]
        self.tasks.append(asyncio.create_task(self._release()))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.pool.close()

    def schedule(self, message: StoredMessage, url: str, status: str = "sent", after: float | None = None) -> None:
        """Posts ``status`` one callback delay after ``after`` (default: now); with a spread the delay is
        drawn uniformly from ``delay × (1 ± spread)``."""
        counts = self.state.callbacks
        host = urlsplit(url).hostname
        if host not in LOOPBACK:
            counts["skipped_not_loopback"] += 1
            return
        if self.waiting >= self.config.callback_queue:
            counts["dropped_queue_full"] += 1
            return
        counts["scheduled"] += 1
        delay = self.delay * (1 + self.spread * (2 * self.rng.random() - 1)) if self.spread else self.delay
        self.seq += 1
        heapq.heappush(self.due, ((after if after is not None else time.monotonic()) + delay, self.seq, status, url,
                                  message))
        self.wakeup.set()

    @property
    def waiting(self) -> int:
        """Callbacks not posted yet: waiting for their time, or for a free connection."""
        return len(self.due) + self.ready.qsize()

    async def _release(self) -> None:
        """Moves each callback to the posters when its time comes (due order, whatever order they were
        scheduled in): an open loop, never waiting for an earlier callback's answer."""
        while True:
            if not self.due:
                self.wakeup.clear()
                await self.wakeup.wait()
                continue
            wait = self.due[0][0] - time.monotonic()
            if wait > 0:
                self.wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), wait)
                continue
            self.ready.put_nowait(heapq.heappop(self.due))

    async def _run(self) -> None:
        while True:
            due, _, status, url, message = await self.ready.get()
            params = {
                "AccountSid": message.account_sid,
                "ApiVersion": API_VERSION,
                "From": message.from_ or "",
                "MessageSid": message.sid,
                "MessageStatus": status,
                "SmsSid": message.sid,
                "SmsStatus": status,
                "To": message.to,
            }
            if message.messaging_service_sid:
                params["MessagingServiceSid"] = message.messaging_service_sid
            refused = carrier_refusal(self.config, message.from_)
            if refused and status == "delivered":
                params["MessageStatus"] = params["SmsStatus"] = status = "undelivered"
                params["ErrorCode"] = refused
            await self._post(url, params)
            if status == "sent":
                self.schedule(message, url, "delivered", after=max(due, time.monotonic()))

    async def _post(self, url: str, params: dict[str, str]) -> None:
        """One callback as Twilio delivers it: the URL's fragment (connection overrides such as
        ``#rc=3&rp=all``) is never sent and never signed; it says how often to retry a callback that
        failed (refused, timed out, or answered 5xx: ``rp=all`` or ``5xx``; ``ct``/``rt``: timeouts)."""
        counts, latencies = self.state.callbacks, self.state.callback_latencies
        target, _, fragment = url.partition("#")
        overrides = dict(parse_qsl(fragment))
        retries = min(5, int(overrides.get("rc", "0") or 0))
        policy = overrides.get("rp", "all")
        signature = self.validator.compute_signature(target, params)
        parts = urlsplit(target)
        key = (parts.scheme, parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        body = _form(params).encode()
        path = f"{parts.path or '/'}{'?' + parts.query if parts.query else ''}"
        if not path.isascii():  # percent-encoded as UTF-8, as aiohttp (yarl) sent it
            path = quote(path, safe="!$%&'()*+,/:;=?@~")
        request = (f"POST {path} HTTP/1.1\r\n"
                   f"Host: {parts.netloc.rpartition('@')[2]}\r\n"
                   "Content-Type: application/x-www-form-urlencoded\r\n"
                   f"Content-Length: {len(body)}\r\n"
                   f"X-Twilio-Signature: {signature}\r\n\r\n").encode("latin-1") + body
        for attempt in range(retries + 1):
            counts["posted" if attempt == 0 else "retried"] += 1
            started = time.monotonic()
            retry = False
            try:
                status = await self.pool.request(key, request)
            except asyncio.CancelledError:
                raise
            except Exception:  # refused, reset, timeout, an answer that is not HTTP
                counts["failed_attempts"] += 1
                retry = policy in ("all", "ct", "rt")
            else:
                counts["answered_2xx" if status < 300 else f"answered_{status}"] += 1
                if status < 300:
                    latencies.append(time.monotonic() - started)
                    self.state.last_callback_answered = time.monotonic()
                    return
                retry = policy in ("all", "5xx") and status >= 500 or policy in ("all", "4xx") and status < 500
            if not retry:
                break
            await asyncio.sleep(0.05 * (attempt + 1))
        counts["failed"] += 1  # given up: a status lost for good


def _form(params: dict[str, str]) -> str:
    """``urllib.parse.urlencode(params)``, byte for byte, at a fraction of its cost: most names and values
    of a callback (sids, statuses) are plain ASCII letters and digits, which ``quote_plus`` returns
    unchanged after its slow path."""
    return "&".join(f"{_quoted(name)}={_quoted(value)}" for name, value in params.items())


def _quoted(text: str) -> str:
    return text if text.isascii() and text.isalnum() else quote_plus(text)


class _KeepAlivePool:
    """The least HTTP/1.1 client that posts a callback: persistent connections per (scheme, host, port),
    a request written in one piece, the answer's head parsed by hand and its body read and discarded.

    aiohttp's client spent about half of the double's callback CPU building requests (FormData,
    header multidicts, cookie jars, tracing) that are always the same shape here; the double stands in
    for Twilio's servers, which are not on the machine under test, so its CPU is kept small. No
    semaphore: the posting tasks (``callback_concurrency`` of them) each hold at most one connection,
    which bounds the connections in flight; the idle ones kept are bounded by the same number.
    """

    def __init__(self, max_idle: int, timeout_s: float) -> None:
        self.max_idle, self.timeout_s = max_idle, timeout_s
        self.idle: dict[tuple[str, str, int], list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}

    async def request(self, key: tuple[str, str, int], request: bytes) -> int:
        """Sends ``request`` and answers its HTTP status, within ``timeout_s`` (connecting included).
        The connection goes back to the pool only after a complete answer that allows it; on any error
        or timeout it is aborted (a late answer would otherwise be read as the next request's)."""
        idle = self.idle.setdefault(key, [])
        connection = None
        while idle:
            reader, writer = idle.pop()
            if reader.at_eof() or writer.is_closing():  # the server closed it while it was idle
                writer.transport.abort()
                continue
            connection = reader, writer
            break
        try:
            async with asyncio.timeout(self.timeout_s):
                if connection is None:
                    connection = await asyncio.open_connection(key[1], key[2], ssl=key[0] == "https" or None)
                reader, writer = connection
                writer.write(request)
                status, keep = await _read_answer(reader)
        except BaseException:
            if connection is not None:
                connection[1].transport.abort()
            raise
        if keep and len(idle) < self.max_idle:
            idle.append(connection)
        else:
            writer.close()
        return status

    def close(self) -> None:
        for connections in self.idle.values():
            for _, writer in connections:
                writer.close()
        self.idle.clear()


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """The status of one HTTP/1.x answer, its body read and dropped, and whether the connection can
    carry another request (HTTP/1.1 unless ``Connection: close``; HTTP/1.0 only with keep-alive; never
    after a body delimited by the connection closing)."""
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        version, _, rest = lines[0].partition(b" ")
        status = int(rest[:3])
        if not version.startswith(b"HTTP/1.") or not 100 <= status <= 599:
            raise ValueError(f"not an HTTP/1.x answer: {lines[0][:80]!r}")
        if 100 <= status < 200 and status != 101:
            continue  # an interim answer (100 Continue): the real one follows
        break
    keep = version == b"HTTP/1.1"
    length: int | None = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = value.strip().lower().endswith(b"chunked")
        elif name == b"connection":
            tokens = {token.strip() for token in value.lower().split(b",")}
            if b"close" in tokens:
                keep = False
            elif b"keep-alive" in tokens:
                keep = True
    if status in (204, 304):
        return status, keep
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, then the blank line
                    pass
                return status, keep
            await reader.readexactly(size + 2)  # the chunk and its CRLF
    if length is not None:
        if length:
            await reader.readexactly(length)
        return status, keep
    await reader.read()  # delimited by the server closing
    return status, False


def _is_toll_free(number: str) -> bool:
    return number[:5] in {"+1800", "+1833", "+1844", "+1855", "+1866", "+1877", "+1888"}


def registration_of(config: FakeTwilioConfig, number: str) -> str:
    return config.registration.get(number, "approved")


def carrier_refusal(config: FakeTwilioConfig, from_: str | None) -> str | None:
    """The carrier's error for a message from ``from_``, when its registration is not approved."""
    if not from_ or registration_of(config, from_) == "approved":
        return None
    return "30032" if _is_toll_free(from_) else "30034"


STATE_KEY = web.AppKey("fake_twilio_state", FakeTwilioState)
CONFIG_KEY = web.AppKey("fake_twilio_config", FakeTwilioConfig)
RNG_KEY = web.AppKey("fake_twilio_rng", random.Random)
CALLBACKS_KEY = web.AppKey("fake_twilio_callbacks", CallbackSender)


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


_auth_ok: dict[tuple[str, str], bool] = {}


def _check_auth(request: web.Request, account_sid: str, config: FakeTwilioConfig) -> web.Response | None:
    header = request.headers.get("Authorization", "")
    key = (header, account_sid)
    ok = _auth_ok.get(key)
    if ok is None:
        ok = _auth(header, account_sid, config)
        if len(_auth_ok) < 1024:
            _auth_ok[key] = ok
    return None if ok else _error(401, 20003, "Authenticate")


def _auth(header: str, account_sid: str, config: FakeTwilioConfig) -> bool:
    if not header.startswith("Basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return config.auth_token is None or (user == account_sid and password == config.auth_token)


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
    arrived, mono = time.time(), time.monotonic()
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
        lost = False
        if response is None and state.outage:
            lost = state.outage_rng.random() < 0.5  # accepted, then the answer is lost
            if not lost:
                response = _error(500, 20500, "Internal Server Error")
        sid = None
        if response is None:
            sid = "SM" + os.urandom(16).hex()
            stored = StoredMessage(sid, account_sid, to or "", from_, mss, state.intern_body(form.get("Body", "")),
                                   arrived)
            state.messages[sid] = stored
            state.message_order.append(sid)
            state.by_to[stored.to].append(sid)
            response = web.Response(status=201, body=_message_bytes(stored, "queued"), content_type="application/json")
            if callback and config.callbacks and CALLBACKS_KEY in app:
                app[CALLBACKS_KEY].schedule(stored, callback)
            if lost:
                response = _error(500, 20500, "Internal Server Error")
        state.record(RecordedRequest(arrived, from_, to, mss, callback, response.status, mono, time.monotonic(),
                                     _message_id(callback), sid))
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
    """A created message's JSON from its create form (kept for scripts that build answers)."""
    stored = StoredMessage("SM" + os.urandom(16).hex(), account_sid, form.get("To", ""), form.get("From"),
                           form.get("MessagingServiceSid"), form.get("Body", ""), arrived)
    return _message_dict(stored, _initial_status(stored))


def _initial_status(message: StoredMessage) -> str:
    return "accepted" if message.messaging_service_sid and not message.from_ else "queued"


def _message_dict(message: StoredMessage, status: str, date_sent: float | None = None) -> dict[str, Any]:
    sid, account_sid, body = message.sid, message.account_sid, message.body
    created = _rfc2822(message.created)
    if status == "queued":
        status = _initial_status(message)
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": body,
        "date_created": created,
        "date_sent": _rfc2822(date_sent) if date_sent is not None else None,
        "date_updated": created,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": message.from_,
        "messaging_service_sid": message.messaging_service_sid,
        "num_media": "0",
        "num_segments": str(1 if len(body) <= 160 else -(-len(body) // 153)),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": status,
        "subresource_uris": {"media": f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}/Media.json"},
        "to": message.to,
        "uri": f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json",
    }


def _message_bytes(message: StoredMessage, status: str) -> bytes:
    return json.dumps(_message_dict(message, status)).encode()


def _lifecycle(message: StoredMessage, config: FakeTwilioConfig, now: float) -> tuple[str, float | None]:
    """What Twilio would say now: sent after one callback delay, delivered after two."""
    delay = config.callback_delay_ms / 1000.0
    age = now - message.created
    if age >= 2 * delay:
        return "delivered", message.created + delay
    if age >= delay:
        return "sent", message.created + delay
    return "queued", None


def _page(request: web.Request, key: str, items: list[dict[str, Any]]) -> web.Response:
    try:
        page_size = max(1, min(1000, int(request.query.get("PageSize", "50"))))
        page = max(0, int(request.query.get("Page", "0")))
    except ValueError:
        return _error(400, 20001, "Invalid paging parameters")
    start = page * page_size
    chunk = items[start : start + page_size]
    base = request.path
    # Keep the filters on the page links, as Twilio does, so the SDK's next page stays filtered.
    keep = "".join(f"&{k}={v}" for k, v in request.query.items() if k not in ("PageSize", "Page", "PageToken"))
    has_next = start + page_size < len(items)
    return _json(
        200,
        {
            key: chunk,
            "end": start + len(chunk) - 1 if chunk else 0,
            "first_page_uri": f"{base}?PageSize={page_size}&Page=0{keep}",
            "next_page_uri": f"{base}?PageSize={page_size}&Page={page + 1}{keep}" if has_next else None,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": f"{base}?PageSize={page_size}&Page={page - 1}{keep}" if page else None,
            "start": start,
            "uri": f"{base}?PageSize={page_size}&Page={page}{keep}",
        },
    )


def _parse_date(value: str, *, end_of_day: bool = False) -> float | None:
    """``YYYY-MM-DD`` or ISO 8601 (``...Z`` or an offset), as Twilio accepts for DateSent filters."""
    value = value.strip()
    try:
        if len(value) == 10:
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
            return day.timestamp() + (86_400 - 1e-6 if end_of_day else 0.0)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    except ValueError:
        return None


def _date_filter(query) -> tuple[float | None, float | None] | web.Response:
    """(lowest, highest) date_sent allowed. ``DateSent>=x`` arrives as key ``DateSent>``."""
    low = high = None
    for key, value in query.items():
        if key in ("DateSent>", "DateSent>="):
            low = parsed = _parse_date(value)
        elif key in ("DateSent<", "DateSent<="):
            high = parsed = _parse_date(value, end_of_day=True)
        elif key == "DateSent":
            if value.startswith(">="):
                low = parsed = _parse_date(value[2:])
            elif value.startswith("<="):
                high = parsed = _parse_date(value[2:], end_of_day=True)
            else:
                low, high = _parse_date(value), _parse_date(value, end_of_day=True)
                parsed = low
        else:
            continue
        if parsed is None:
            return _error(400, 20001, f"Invalid {key}: {value}")
    return low, high


async def list_messages(request: web.Request) -> web.Response:
    state, config = request.app[STATE_KEY], request.app[CONFIG_KEY]
    account_sid = request.match_info["account_sid"]
    if (denied := _check_auth(request, account_sid, config)) is not None:
        return denied
    state.lists += 1
    if state.outage:
        return _error(500, 20500, "Internal Server Error")
    to, from_ = request.query.get("To"), request.query.get("From")
    dates = _date_filter(request.query)
    if isinstance(dates, web.Response):
        return dates
    low, high = dates
    now = time.time()
    sids = state.by_to.get(to, []) if to else state.message_order
    items = []
    for sid in reversed(sids):  # newest first, like Twilio
        message = state.messages[sid]
        if message.account_sid != account_sid or (from_ and message.from_ != from_):
            continue
        status, date_sent = _lifecycle(message, config, now)
        # Twilio filters on date_sent: a message not yet sent has none and matches no range.
        if (low is not None or high is not None) and (
                date_sent is None or (low is not None and date_sent < low) or (high is not None and date_sent > high)):
            continue
        items.append(_message_dict(message, status, date_sent))
    return _page(request, "messages", items)


async def fetch_message(request: web.Request) -> web.Response:
    state, config = request.app[STATE_KEY], request.app[CONFIG_KEY]
    account_sid = request.match_info["account_sid"]
    if (denied := _check_auth(request, account_sid, config)) is not None:
        return denied
    message = state.messages.get(request.match_info["sid"])
    if message is None or message.account_sid != account_sid:
        return _error(404, 20404, f"The requested resource {request.path} was not found")
    status, date_sent = _lifecycle(message, config, time.time())
    return _json(200, _message_dict(message, status, date_sent))


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


def _short_code_json(account_sid: str, index: int, code: str) -> dict[str, Any]:
    sid = "SC" + f"{index:032x}"
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "date_created": _rfc2822(0),
        "date_updated": _rfc2822(0),
        "friendly_name": code,
        "short_code": code,
        "sid": sid,
        "sms_fallback_method": "POST",
        "sms_fallback_url": "",
        "sms_method": "POST",
        "sms_url": "",
        "uri": f"/{API_VERSION}/Accounts/{account_sid}/SMS/ShortCodes/{sid}.json",
    }


def _matches(pattern: str, value: str) -> bool:
    """Twilio's ShortCode filter: a pattern where '*' stands for any one digit (partial matches too)."""
    if "*" not in pattern:
        return pattern in value
    return len(pattern) == len(value) and all(p in ("*", v) for p, v in zip(pattern, value, strict=True))


async def list_short_codes(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    account_sid = request.match_info["account_sid"]
    if (denied := _check_auth(request, account_sid, config)) is not None:
        return denied
    wanted = request.query.get("ShortCode")
    name = request.query.get("FriendlyName")
    items = [
        _short_code_json(account_sid, i, c)
        for i, c in enumerate(config.short_codes)
        if (not wanted or _matches(wanted, c)) and (not name or name == c)
    ]
    return _page(request, "short_codes", items)


# -- carrier registration (messaging.twilio.com/v1) ----------------------------------------------

def _v1_page(key: str, items: list[dict[str, Any]]) -> web.Response:
    return _json(200, {key: items, "meta": {"key": key, "next_page_url": None, "page": 0,
                                            "page_size": max(50, len(items)), "previous_page_url": None}})


def _long_codes(config: FakeTwilioConfig) -> list[tuple[int, str]]:
    return [(i, n) for i, n in enumerate(config.owned) if not _is_toll_free(n)]


def _service_sid(index: int) -> str:
    return "MG" + f"{index:032x}"


async def list_services(request: web.Request) -> web.Response:
    """One Messaging Service per owned long code (its A2P campaign says how that number stands)."""
    config = request.app[CONFIG_KEY]
    return _v1_page("services", [{"sid": _service_sid(i), "friendly_name": n, "us_app_to_person_registered":
                                  registration_of(config, n) == "approved"} for i, n in _long_codes(config)])


def _service_number(config: FakeTwilioConfig, sid: str) -> tuple[int, str] | None:
    return next(((i, n) for i, n in _long_codes(config) if _service_sid(i) == sid), None)


async def fetch_service(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    found = _service_number(config, request.match_info["sid"])
    if found is None:
        return _error(404, 20404, f"The requested resource {request.path} was not found")
    return _json(200, {"sid": request.match_info["sid"], "friendly_name": found[1],
                       "us_app_to_person_registered": registration_of(config, found[1]) == "approved"})


async def list_service_numbers(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    found = _service_number(config, request.match_info["sid"])
    if found is None:
        return _error(404, 20404, f"The requested resource {request.path} was not found")
    index, number = found
    return _v1_page("phone_numbers", [{"sid": "PN" + f"{index:032x}", "phone_number": number,
                                       "service_sid": request.match_info["sid"]}])


async def fetch_service_number(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    found = _service_number(config, request.match_info["sid"])
    if (found is None or "PN" + f"{found[0]:032x}" != request.match_info["number_sid"]
            or registration_of(config, found[1]) == "missing"):
        return _error(404, 20404, f"The requested resource {request.path} was not found")
    return _json(200, {"sid": request.match_info["number_sid"], "phone_number": found[1],
                       "service_sid": request.match_info["sid"]})


_CAMPAIGN_STATUS = {"approved": "VERIFIED", "pending": "PENDING", "rejected": "FAILED"}


async def list_a2p_campaigns(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    found = _service_number(config, request.match_info["sid"])
    status = _CAMPAIGN_STATUS.get(registration_of(config, found[1])) if found else None
    if status is None:
        return _v1_page("compliance", [])
    limits: dict[str, Any] = {}
    if config.a2p_mps:
        limits["att"] = {"mps": config.a2p_mps, "msg_class": "A"}
    if config.daily_cap:
        limits["tmobile"] = {"daily_cap": config.daily_cap}
    return _v1_page("compliance", [{"sid": "QE" + f"{found[0]:032x}", "messaging_service_sid": request.match_info["sid"],
                                    "brand_registration_sid": "BN" + "0" * 32, "campaign_status": status,
                                    "rate_limits": limits or None}])


async def fetch_brand(request: web.Request) -> web.Response:
    return _json(200, {"sid": request.match_info["sid"], "status": "APPROVED", "failure_reason": None})


_VERIFICATION_STATUS = {"approved": "TWILIO_APPROVED", "pending": "IN_REVIEW", "rejected": "TWILIO_REJECTED"}


async def list_tollfree_verifications(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    wanted = request.query.get("TollfreePhoneNumberSid")
    items = []
    for index, number in enumerate(config.owned):
        status = _VERIFICATION_STATUS.get(registration_of(config, number))
        sid = "PN" + f"{index:032x}"
        if _is_toll_free(number) and status and (not wanted or wanted == sid):
            items.append({"sid": "HH" + f"{index:032x}", "tollfree_phone_number_sid": sid, "status": status,
                          "rejection_reason": "Opt-in flow not shown" if status == "TWILIO_REJECTED" else None,
                          "error_code": 30498 if status == "TWILIO_REJECTED" else None, "edit_allowed": True})
    return _v1_page("verifications", items)


async def get_stats(request: web.Request) -> web.Response:
    stats = request.app[STATE_KEY].stats()
    if CALLBACKS_KEY in request.app:  # callbacks still waiting for their time (or a free connection)
        stats["callback_queue"] = request.app[CALLBACKS_KEY].waiting
    return _json(200, stats)


async def get_requests(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    truthy = ("1", "true", "yes")
    if request.query.get("summary", "").lower() in truthy:
        return _json(200, state.summary(per_to=request.query.get("per_to", "").lower() in truthy))
    try:
        offset = max(0, int(request.query.get("offset", "0")))
        limit = int(request.query.get("limit", "0")) or None
    except ValueError:
        return _error(400, 20001, "Invalid offset/limit")
    rows = state.requests[offset : offset + limit if limit else None]
    columns = ["mono", "answered", "t", "from", "messaging_service_sid", "to", "m", "status", "sid"]
    data = [[r.mono, r.answered, r.t, r.from_, r.messaging_service_sid, r.to, r.message_id, r.status, r.sid]
            for r in rows]
    return _json(200, {"columns": columns, "rows": data, "offset": offset, "total": len(state.requests)})


async def post_reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return _json(200, {"reset": True})


async def _start_callbacks(app: web.Application) -> None:
    if app[CONFIG_KEY].callbacks:
        sender = CallbackSender(app[CONFIG_KEY], app[STATE_KEY])
        await sender.start()
        app[CALLBACKS_KEY] = sender


async def _stop_callbacks(app: web.Application) -> None:
    if CALLBACKS_KEY in app:
        await app[CALLBACKS_KEY].stop()


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
    app.router.add_get(f"{accounts}/SMS/ShortCodes.json", list_short_codes)
    app.router.add_get("/v1/Services", list_services)
    app.router.add_get("/v1/Services/{sid}", fetch_service)
    app.router.add_get("/v1/Services/{sid}/PhoneNumbers", list_service_numbers)
    app.router.add_get("/v1/Services/{sid}/PhoneNumbers/{number_sid}", fetch_service_number)
    app.router.add_get("/v1/Services/{sid}/Compliance/Usa2p", list_a2p_campaigns)
    app.router.add_get("/v1/a2p/BrandRegistrations/{sid}", fetch_brand)
    app.router.add_get("/v1/Tollfree/Verifications", list_tollfree_verifications)
    app.router.add_get("/_stats", get_stats)
    app.router.add_get("/_requests", get_requests)
    app.router.add_post("/_reset", post_reset)
    app.on_startup.append(_start_callbacks)
    app.on_cleanup.append(_stop_callbacks)
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
    p.add_argument("--short-codes", default=",".join(DEFAULT_SHORT_CODES),
                   help="comma-separated short codes the account owns")
    p.add_argument("--opted-out", default="", help="comma-separated numbers that answer 21610")
    p.add_argument("--auth-token", default=None,
                   help="require this auth token (default: accept any); also signs status callbacks")
    p.add_argument("--no-callbacks", action="store_true", help="never post status callbacks")
    p.add_argument("--callback-delay-ms", type=float, default=1000.0,
                   help="create -> 'sent' callback, and 'sent' -> 'delivered' (default 1000)")
    p.add_argument("--callback-spread", type=float, default=0.0,
                   help="each callback's delay drawn uniformly from delay x (1 +- spread), 0..1 (default 0: exact)")
    p.add_argument("--callback-concurrency", type=int, default=64, help="callback POSTs in flight at most")
    p.add_argument("--callback-queue", type=int, default=200_000, help="callbacks waiting at most (then dropped)")
    p.add_argument("--registration", default="",
                   help="comma-separated NUMBER=STATE (approved|pending|rejected|missing); owned numbers not "
                        "named are registered with the carriers")
    p.add_argument("--a2p-mps", type=int, default=None, help="the A2P campaigns' per-second rate limit")
    p.add_argument("--daily-cap", type=int, default=None, help="the A2P campaigns' daily cap")
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
        short_codes=_split(args.short_codes),
        callbacks=not args.no_callbacks,
        callback_delay_ms=args.callback_delay_ms,
        callback_spread=args.callback_spread,
        callback_concurrency=args.callback_concurrency,
        callback_queue=args.callback_queue,
        registration=dict(item.split("=", 1) for item in _split(args.registration)),
        a2p_mps=args.a2p_mps,
        daily_cap=args.daily_cap,
    )
    loop_factory = None
    if not args.no_uvloop:
        with contextlib.suppress(ImportError):
            import uvloop

            loop_factory = uvloop.new_event_loop
    print(
        f"fake_twilio listening on http://{args.host}:{args.port} "
        f"(latency {config.latency_ms}±{config.jitter_ms} ms, callbacks "
        f"{'after ' + str(config.callback_delay_ms) + ' ms' if config.callbacks else 'off'}, "
        f"uvloop={loop_factory is not None})",
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
