"""The Twilio double's status callbacks (scripts/fake_twilio.py), on real sockets on 127.0.0.1.

The benchmarks trust the double to post what Twilio posts: ``sent`` then ``delivered``, signed over
the URL without its fragment, retried as the fragment says, spread in time as asked. It posts with a
small HTTP/1.1 client of its own (aiohttp's cost the machine under test a good part of a core), so
these tests also hold that client to HTTP: keep-alive reused, chunked and close-delimited answers
read, a timed-out connection never reused.
"""

from __future__ import annotations

import asyncio
import base64
import time
from urllib.parse import parse_qsl, urlencode

import aiohttp
import pytest
from aiohttp import web
from twilio.request_validator import RequestValidator

from scripts import fake_twilio

TOKEN = "callback-token"
ACCOUNT = "AC" + "1" * 32
OWNED = "+15005550006"

real_sockets = pytest.mark.httpx_mock(should_mock=lambda request: False)


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"


@real_sockets
async def test_each_message_calls_back_sent_then_delivered_signed_spread_retried_on_kept_connections():
    delay, spread = 0.1, 0.5
    received: list[dict] = []  # every POST the receiver saw, in arrival order
    refused_once: set[str] = set()
    ids = ["0", "1", "2", "3", "4", "flaky"]
    all_seen = asyncio.Event()

    async def status(request: web.Request) -> web.Response:
        form = dict(await request.post())
        m = request.query["m"]
        received.append({"at": time.monotonic(), "m": m, "status": form["MessageStatus"], "form": form,
                         "url": str(request.url), "signature": request.headers.get("X-Twilio-Signature"),
                         "port": request.transport.get_extra_info("peername")[1]})
        if m == "flaky" and m not in refused_once:  # the API down for a moment: Twilio retries
            refused_once.add(m)
            return web.Response(status=503)
        if len(received) == 2 * len(ids) + 1:
            all_seen.set()
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/status", status)
    receiver_runner, receiver_base = await _serve(receiver)
    double = fake_twilio.build_app(fake_twilio.FakeTwilioConfig(
        callbacks=True, callback_delay_ms=delay * 1000, callback_spread=spread, callback_concurrency=4,
        auth_token=TOKEN, owned=[OWNED], seed=7))
    double_runner, double_base = await _serve(double)
    state = double[fake_twilio.STATE_KEY]
    created: dict[str, tuple[float, float]] = {}  # m -> monotonic before and after the create
    try:
        basic = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
        async with aiohttp.ClientSession(headers={"Authorization": f"Basic {basic}"}) as http:
            for i, m in enumerate(ids):
                before = time.monotonic()
                async with http.post(f"{double_base}/2010-04-01/Accounts/{ACCOUNT}/Messages.json", data={
                        "To": f"+1555000{i:04d}", "From": OWNED, "Body": "hi",
                        "StatusCallback": f"{receiver_base}/status?m={m}#rc=3&rp=all"}) as response:
                    assert response.status == 201
                created[m] = (before, time.monotonic())
        await asyncio.wait_for(all_seen.wait(), 3.0)
        await asyncio.sleep(2 * delay * (1 + spread))  # the last answers counted, and nothing more comes
    finally:
        await double_runner.cleanup()
        await receiver_runner.cleanup()

    counts = state.callbacks
    assert counts["scheduled"] == counts["posted"] == counts["answered_2xx"] == 2 * len(ids)
    assert (counts["retried"], counts["answered_503"], counts["failed_attempts"], counts["failed"]) == (1, 1, 0, 0)
    assert len(state.callback_latencies) == 2 * len(ids) and state.last_callback_answered is not None
    assert len(received) == 2 * len(ids) + 1

    validator = RequestValidator(TOKEN)
    for post in received:
        assert "#" not in post["url"] and post["url"] == f"{receiver_base}/status?m={post['m']}"
        assert validator.validate(post["url"], post["form"], post["signature"])
        assert post["form"]["SmsStatus"] == post["form"]["MessageStatus"]
        assert post["form"]["AccountSid"] == ACCOUNT and post["form"]["From"] == OWNED

    sent_delays, delivered_delays = [], []
    for m in ids:
        posts = [p for p in received if p["m"] == m]
        statuses = [p["status"] for p in posts]
        assert statuses == (["sent", "sent", "delivered"] if m == "flaky" else ["sent", "delivered"])
        assert len({p["form"]["MessageSid"] for p in posts}) == 1
        first_sent, answered_sent, delivered = posts[0], posts[-2], posts[-1]
        sent_delays.append((first_sent["at"] - created[m][0], first_sent["at"] - created[m][1]))
        delivered_delays.append(delivered["at"] - answered_sent["at"])
    low, high, slack = delay * (1 - spread), delay * (1 + spread), 0.05
    for after_start, after_end in sent_delays:
        assert after_start >= low and after_end <= high + slack
    for d in delivered_delays:
        assert low <= d <= high + slack
    assert max(s for s, _ in sent_delays) - min(s for s, _ in sent_delays) > 0.01  # really spread

    ports = {p["port"] for p in received}
    assert len(ports) < len(received) and len(ports) <= 4  # kept alive, bounded by the concurrency


def test_form_is_urlencode_byte_for_byte():
    params = {"AccountSid": ACCOUNT, "ApiVersion": "2010-04-01", "From": "+15005550006", "To": "+1 555",
              "MessageStatus": "sent", "Odd name": "é&=+/~ ²", "Empty": ""}
    assert fake_twilio._form(params) == urlencode(params)


@real_sockets
async def test_the_client_reads_chunked_and_close_delimited_answers_and_drops_what_timed_out():
    """A raw server answering each request as scripted, to reach what aiohttp's server never sends."""
    script = [
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n", False),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", False),
        (b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", True),
        (b"HTTP/1.0 200 OK\r\n\r\nuntil the connection closes", True),
        (None, False),  # never answers: the attempt times out
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", False),
    ]
    seen: list[tuple[int, bytes, bytes]] = []  # (peer port, head, body)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port = writer.get_extra_info("peername")[1]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                seen.append((port, head, await reader.readexactly(length)))
                answer, close = script[len(seen) - 1]
                if answer is None:
                    await reader.read()  # until the client gives up and aborts
                    return
                writer.write(answer)
                if close:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sender = fake_twilio.CallbackSender(
        fake_twilio.FakeTwilioConfig(callbacks=True, auth_token=TOKEN, callback_timeout_s=0.3),
        fake_twilio.FakeTwilioState())
    params = {"AccountSid": ACCOUNT, "MessageSid": "SM" + "a" * 32, "MessageStatus": "sent", "To": "+15550001234"}
    target = f"http://127.0.0.1:{port}/status?m=7"
    try:
        for _ in script:
            await sender._post(target + "#rc=0", params)
        refused = f"http://127.0.0.1:{_free_port()}/status#rc=1&rp=all"
        await sender._post(refused, params)
    finally:
        await sender.stop()
        server.close()
        await server.wait_closed()

    counts = sender.state.callbacks
    assert counts["answered_2xx"] == 5
    assert counts["failed_attempts"] == 3  # the timeout, and the refused connection twice (one retry)
    assert counts["failed"] == 2 and counts["posted"] == 7 and counts["retried"] == 1
    ports = [p for p, _, _ in seen]
    assert ports[0] == ports[1] == ports[2]  # chunked and 100-then-201 answers leave the connection usable
    assert len(set(ports[2:])) == 4  # after close, close-delimited and a timeout: a new connection each
    assert sender.pool.idle == {}

    head, body = seen[0][1], seen[0][2]
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /status?m=7 HTTP/1.1"
    headers = dict(line.split(": ", 1) for line in lines[1:] if line)
    assert headers["Host"] == f"127.0.0.1:{port}"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert int(headers["Content-Length"]) == len(body) and body.decode() == urlencode(params)
    assert RequestValidator(TOKEN).validate(target, dict(parse_qsl(body.decode())), headers["X-Twilio-Signature"])


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
