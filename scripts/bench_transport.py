#!/usr/bin/env python
"""Measure HTTP client stacks against scripts/fake_twilio.py on 127.0.0.1.

    .venv/bin/python -m scripts.bench_transport                  # 0 ms and 100 ms, the defaults below
    .venv/bin/python -m scripts.bench_transport --latency-ms 100 --in-flight 256 --seconds 5

For each provider latency it starts the fake server as a subprocess (its own core, uvloop), then runs
every client case for ``--seconds`` or ``--count`` messages, whichever comes first, with N
requests in flight (N worker coroutines in one process, one event loop), and prints msg/s, client CPU
per message (process_time), p50/p99 latency and the server's CPU. Throughput is bounded by
in-flight / latency, so the 100 ms runs also use 256 in flight (2,000 msg/s needs >= 200).

Cases:
  httpx            plain httpx.AsyncClient, its own (httpcore) pool sized to N
  httpx-aiohttp    httpx.AsyncClient over the httpx-aiohttp package's AiohttpTransport (limit N)
  httpx+aiopool    httpx.AsyncClient over our AiohttpPoolTransport (app.providers.twilio_http)
  aiohttp          raw aiohttp.ClientSession POST (TCPConnector limit N)
  twilio+ours      twilio Client(...).messages.create_async over HttpxTwilioClient + AiohttpPoolTransport
  twilio+sdk-aio   reference: the SDK's own AsyncTwilioHttpClient (aiohttp, default connector limit
                   100, no retries), URLs rewritten to the fake server
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx

from app.providers.twilio_http import (
    AiohttpPoolTransport,
    HttpxTwilioClient,
    build_transport,
)
from scripts.benchkit import free_port

ROOT = Path(__file__).resolve().parent.parent

ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-token"
FROM = "+15005550006"
CALLBACK = "https://fineline.example/hooks/twilio/status"
CASES = ["httpx", "httpx-aiohttp", "httpx+aiopool", "aiohttp", "twilio+ours", "twilio+sdk-aio"]


@dataclass
class Result:
    case: str
    latency_ms: float
    in_flight: int
    sent: int
    errors: int
    seconds: float
    cpu_s: float
    lat: list[float]
    server_cpu_s: float

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.lat:
            return float("nan")
        ordered = sorted(self.lat)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def start_server(latency_ms: float, jitter_ms: float, port: int) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / "fake_twilio.py"),
        "--port",
        str(port),
        "--latency-ms",
        str(latency_ms),
        "--jitter-ms",
        str(jitter_ms),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"fake_twilio exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    raise RuntimeError("fake_twilio did not start")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# Each factory returns (send, close): send(i) posts one message and raises on a non-2xx answer.
SendFactory = Callable[
    [str, int], Awaitable[tuple[Callable[[int], Awaitable[None]], Callable[[], Awaitable[None]]]]
]


def _form(i: int) -> dict[str, str]:
    return {
        "To": f"+1555{i % 10_000_000:07d}",
        "From": FROM,
        "Body": "Fineline bench: hello there",
        "StatusCallback": CALLBACK,
    }


def _messages_url(base: str) -> str:
    return f"{base}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


async def make_httpx(base: str, n: int, transport: httpx.AsyncBaseTransport | None = None):
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    kwargs = {"transport": transport} if transport is not None else {"limits": limits}
    client = httpx.AsyncClient(auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=30.0, trust_env=False, **kwargs)
    url = _messages_url(base)

    async def send(i: int) -> None:
        r = await client.post(url, data=_form(i))
        if r.status_code >= 300:
            raise RuntimeError(f"HTTP {r.status_code}")

    return send, client.aclose


async def make_httpx_plain(base: str, n: int):
    return await make_httpx(base, n)


async def make_httpx_aiohttp(base: str, n: int):
    return await make_httpx(base, n, build_transport("httpx-aiohttp", max_in_flight=n))


async def make_httpx_aiopool(base: str, n: int):
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    return await make_httpx(base, n, AiohttpPoolTransport(limits=limits))


async def make_aiohttp(base: str, n: int):
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=n),
        headers={"Authorization": aiohttp.encode_basic_auth(ACCOUNT_SID, AUTH_TOKEN)}
        if hasattr(aiohttp, "encode_basic_auth")
        else {"Authorization": aiohttp.BasicAuth(ACCOUNT_SID, AUTH_TOKEN).encode()},
    )
    url = _messages_url(base)

    async def send(i: int) -> None:
        async with session.post(url, data=_form(i)) as r:
            await r.read()
            if r.status >= 300:
                raise RuntimeError(f"HTTP {r.status}")

    return send, session.close


async def make_twilio_ours(base: str, n: int):
    from twilio.rest import Client

    http = HttpxTwilioClient(api_base=base, transport="aiohttp", max_in_flight=n)
    messages = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http).messages

    async def send(i: int) -> None:
        await messages.create_async(
            to=f"+1555{i % 10_000_000:07d}",
            from_=FROM,
            body="Fineline bench: hello there",
            status_callback=CALLBACK,
        )

    return send, http.aclose


async def make_twilio_sdk_aiohttp(base: str, n: int):
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    class Rewriting(AsyncTwilioHttpClient):
        async def request(self, method, url, *args, **kwargs):  # type: ignore[override]
            path = url.split(".twilio.com", 1)[1]
            return await super().request(method, base + path, *args, **kwargs)

    http = Rewriting()  # no max_retries: never retry message creation
    messages = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http).messages

    async def send(i: int) -> None:
        await messages.create_async(
            to=f"+1555{i % 10_000_000:07d}",
            from_=FROM,
            body="Fineline bench: hello there",
            status_callback=CALLBACK,
        )

    return send, http.close


FACTORIES: dict[str, SendFactory] = {
    "httpx": make_httpx_plain,
    "httpx-aiohttp": make_httpx_aiohttp,
    "httpx+aiopool": make_httpx_aiopool,
    "aiohttp": make_aiohttp,
    "twilio+ours": make_twilio_ours,
    "twilio+sdk-aio": make_twilio_sdk_aiohttp,
}


async def run_case(
    case: str, base: str, n: int, count: int, seconds: float, latency_ms: float, server_pid: int
) -> Result:
    send, close = await FACTORIES[case](base, n)
    try:
        # Warm-up: open the connections (one request per worker), bounded in time.
        warm = [asyncio.ensure_future(send(-1 - k)) for k in range(n)]
        await asyncio.wait(warm, timeout=max(5.0, seconds))
        for t in warm:
            if not t.done():
                t.cancel()
        await asyncio.gather(*warm, return_exceptions=True)

        lat: list[float] = []
        errors = 0
        issued = 0
        stop = False
        perf = time.perf_counter

        async def worker() -> None:
            nonlocal issued, errors
            while not stop and issued < count:
                i = issued
                issued += 1
                t0 = perf()
                try:
                    await send(i)
                except Exception:
                    errors += 1
                    continue
                if not stop:
                    lat.append(perf() - t0)

        server0 = _proc_cpu(server_pid)
        cpu0 = time.process_time()
        t0 = perf()
        tasks = [asyncio.ensure_future(worker()) for _ in range(n)]
        done, _ = await asyncio.wait(tasks, timeout=seconds)
        stop = True
        elapsed = perf() - t0
        cpu = time.process_time() - cpu0
        server_cpu = _proc_cpu(server_pid) - server0
        sent = len(lat)
        # Let the stragglers finish (bounded), uncounted.
        await asyncio.wait(tasks, timeout=10)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return Result(case, latency_ms, n, sent, errors, elapsed, cpu, lat, server_cpu)
    finally:
        await close()


async def measure_layers(n: int = 5000) -> None:
    """CPU per create_async of each layer without any network: the pool answers from memory."""
    import json

    import httpcore
    from twilio.http import AsyncHttpClient
    from twilio.http.response import Response as TwilioResponse
    from twilio.rest import Client

    from scripts import fake_twilio

    form = {"To": "+15551234567", "From": FROM, "Body": "Fineline bench: hello there"}
    body = json.dumps(fake_twilio._message_json(ACCOUNT_SID, form, time.time())).encode()
    headers = [(b"Content-Type", b"application/json; charset=utf-8"), (b"Content-Length", b"%d" % len(body))]

    class MemoryPool:
        async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
            async for _ in request.stream:  # type: ignore[union-attr]
                pass
            return httpcore.Response(201, headers=headers, content=body)

        async def aclose(self) -> None:
            return None

    class MemoryTwilioHttp(AsyncHttpClient):
        def __init__(self) -> None:
            super().__init__(None, True, None)

        async def request(self, *args, **kwargs):  # type: ignore[override]
            return TwilioResponse(201, body.decode(), {})

    transport = AiohttpPoolTransport()
    transport._pool = MemoryPool()  # type: ignore[assignment]
    ours = HttpxTwilioClient(httpx.AsyncClient(transport=transport), api_base="http://127.0.0.1:9")

    async def per_call(http: AsyncHttpClient) -> float:
        messages = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http).messages
        for rounds in (200, n):
            t0 = time.process_time()
            for i in range(rounds):
                await messages.create_async(
                    to=f"+1555{i:07d}",
                    from_=FROM,
                    body="Fineline bench: hello there",
                    status_callback=CALLBACK,
                )
        return (time.process_time() - t0) / n * 1e6

    sdk_alone = await per_call(MemoryTwilioHttp())
    with_ours = await per_call(ours)
    print(f"twilio SDK alone (in-memory http client):           {sdk_alone:6.1f} µs/msg")
    print(f"twilio + HttpxTwilioClient + transport (memory pool): {with_ours:6.1f} µs/msg")
    print(f"  => HttpxTwilioClient + httpx objects + transport hop: {with_ours - sdk_alone:6.1f} µs/msg")


def _loop_factory(use_uvloop: bool):
    if use_uvloop:
        try:
            import uvloop

            return uvloop.new_event_loop
        except ImportError:
            pass
    return asyncio.new_event_loop


def print_table(results: list[Result]) -> None:
    head = (
        f"{'latency':>8} {'in-flight':>9}  {'client':<15} {'msg/s':>7} {'CPU µs/msg':>10} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'sent':>6} {'err':>4} {'server CPU':>10}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        cpu_per = r.cpu_s / r.sent * 1e6 if r.sent else float("nan")
        server_pct = r.server_cpu_s / r.seconds * 100 if r.seconds else float("nan")
        print(
            f"{r.latency_ms:>6.0f}ms {r.in_flight:>9}  {r.case:<15} {r.rate:>7.0f} {cpu_per:>10.0f} "
            f"{r.pct(0.50):>7.1f} {r.pct(0.99):>7.1f} {r.sent:>6} {r.errors:>4} {server_pct:>9.0f}%"
        )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Benchmark HTTP client stacks against scripts/fake_twilio.py")
    p.add_argument(
        "--latency-ms", type=float, action="append", help="provider latency; repeatable (default: 0 and 100)"
    )
    p.add_argument("--jitter-ms", type=float, default=0.0)
    p.add_argument(
        "--in-flight",
        type=int,
        action="append",
        help="requests in flight; repeatable (default: 64 at 0 ms; 64 and 256 otherwise)",
    )
    p.add_argument("--count", type=int, default=20_000, help="max messages per run")
    p.add_argument("--seconds", type=float, default=3.0, help="max measured seconds per run")
    p.add_argument("--case", action="append", choices=CASES, help="repeatable (default: all)")
    p.add_argument("--repeat", type=int, default=1, help="runs per case; the median by msg/s is reported")
    p.add_argument("--no-uvloop", action="store_true", help="client on asyncio's default loop")
    p.add_argument("--layers", action="store_true", help="only measure the layers' CPU, without network")
    args = p.parse_args(argv)
    if args.layers:
        with asyncio.Runner(loop_factory=_loop_factory(not args.no_uvloop)) as runner:
            runner.run(measure_layers())
        return

    latencies = args.latency_ms or [0.0, 100.0]
    cases = args.case or CASES
    results: list[Result] = []
    load0 = os.getloadavg()
    print(
        f"cores: {os.cpu_count()}  python {sys.version.split()[0]}  httpx {httpx.__version__}  "
        f"aiohttp {aiohttp.__version__}  client loop: {'asyncio' if args.no_uvloop else 'uvloop'}",
        flush=True,
    )
    for latency in latencies:
        in_flights = args.in_flight or ([64] if latency == 0 else [64, 256])
        port = free_port()
        server = start_server(latency, args.jitter_ms, port)
        try:
            base = f"http://127.0.0.1:{port}"
            for n in in_flights:
                runs: dict[str, list[Result]] = {case: [] for case in cases}
                for _ in range(max(1, args.repeat)):
                    for case in cases:  # interleaved, so background noise spreads over all cases
                        with asyncio.Runner(loop_factory=_loop_factory(not args.no_uvloop)) as runner:
                            r = runner.run(
                                run_case(case, base, n, args.count, args.seconds, latency, server.pid)
                            )
                        runs[case].append(r)
                        print(f"  {latency:.0f} ms, {n} in flight, {case}: {r.rate:.0f} msg/s", flush=True)
                for case in cases:
                    ordered = sorted(runs[case], key=lambda x: x.rate)
                    results.append(ordered[len(ordered) // 2])
        finally:
            stop_server(server)
    print()
    print_table(results)
    print(f"\nload average before/after: {load0[0]:.2f} / {os.getloadavg()[0]:.2f} (1 min; 2 cores)")


if __name__ == "__main__":
    main()
