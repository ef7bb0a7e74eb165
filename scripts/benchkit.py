"""What every benchmark needs, once: a free local port, a scratch PostgreSQL database, the CPU
counters, and a load generator in a process of its own."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from app.db import admin

LOCAL = ("127.0.0.1", "localhost", "::1")
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port of 127.0.0.1 nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_local(url: str) -> None:
    host = make_url(url).host
    if host not in LOCAL:
        raise SystemExit(f"--pg-url must point at 127.0.0.1, not {host!r}")


@contextmanager
def scratch_database(pg_url: str, label: str, *, migrate: bool = False) -> Iterator[str]:
    """A new database on ``pg_url``'s server (127.0.0.1 only), its URL yielded, dropped WITH (FORCE)
    afterwards, even after an error or Ctrl-C. ``migrate``: brought to the latest migration first.
    Call outside a running event loop."""
    check_local(pg_url)
    name = f"fineline_bench_{label}_{uuid.uuid4().hex[:10]}"
    url = asyncio.run(admin.create_database(pg_url, name))
    print(f"created scratch database {name}", flush=True)
    try:
        if migrate:
            from app.db import migrations

            migrations.upgrade(url)  # runs its own event loop
        yield url
    finally:
        asyncio.run(admin.drop_database(url))
        print(f"dropped scratch database {name}", flush=True)


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its children that were waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def system_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine so far."""
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def loadgen_main(job_path: str) -> None:
    """The load generator, a process of its own (``python -m scripts.benchkit --loadgen JOB``): aiohttp on
    uvloop, ``concurrency`` keep-alive connections opened before the clock starts, each request of the
    job's ``requests`` ([method, path, form body or null, headers]) sent once, never retried. Prints one
    JSON line: requests, seconds, rate, latency p50/p99/max, statuses, its own CPU, and the requests
    not answered ``expect`` (with a sample)."""
    import aiohttp

    job = json.loads(Path(job_path).read_text())
    requests, base, expect = job["requests"], job["base"], job["expect"]

    async def run() -> dict:
        latencies: list[float] = []
        statuses: dict[str, int] = {}
        errors: list[str] = []
        next_index = 0
        connector = aiohttp.TCPConnector(limit=job["concurrency"], force_close=False)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:
            async def warm() -> None:  # open the connections before the clock starts
                async with http.get(base + "/healthz") as r:
                    await r.read()
            await asyncio.gather(*(warm() for _ in range(job["concurrency"])))

            async def worker() -> None:
                nonlocal next_index
                while next_index < len(requests):
                    method, path, body, headers = requests[next_index]
                    next_index += 1
                    started = time.perf_counter()
                    try:
                        async with http.request(method, base + path, data=body.encode() if body is not None else None,
                                                headers=headers, allow_redirects=False) as response:
                            await response.read()
                            code = response.status
                    except Exception as exc:  # counted, never retried
                        code = type(exc).__name__
                    latencies.append(time.perf_counter() - started)
                    statuses[str(code)] = statuses.get(str(code), 0) + 1
                    if code != expect and len(errors) < 5:
                        errors.append(f"{code}")

            cpu0, wall0 = time.process_time(), time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(job["concurrency"])))
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        latencies.sort()
        n = len(latencies)
        return {"sent": n, "seconds": wall, "rps": n / wall, "p50_ms": latencies[n // 2] * 1e3,
                "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1e3, "max_ms": latencies[-1] * 1e3,
                "errors": n - statuses.get(str(expect), 0), "statuses": statuses, "client_cpu_s": cpu,
                "error_sample": errors}

    try:
        import uvloop

        result = uvloop.run(run())
    except ImportError:  # pragma: no cover
        result = asyncio.run(run())
    print(json.dumps(result))


def fire(base: str, requests: list[list], *, concurrency: int, expect: int, api_pid: int, workdir: Path,
         name: str, timeout: float = 900) -> dict:
    """Run one flood of ``requests`` from a separate load-generator process (``loadgen_main``); adds the
    API process's CPU over it and how busy the whole machine was."""
    job = workdir / f"{name}.json"
    job.write_text(json.dumps({"base": base, "requests": requests, "concurrency": concurrency, "expect": expect}))
    cpu0, stat0 = proc_cpu(api_pid), system_cpu()
    done = subprocess.run([sys.executable, "-m", "scripts.benchkit", "--loadgen", str(job)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)
    api_cpu, (busy, total) = proc_cpu(api_pid) - cpu0, [b - a for a, b in zip(stat0, system_cpu(), strict=True)]
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(name=name, api_cpu_s=api_cpu, api_cpu_ms_per_req=api_cpu / result["sent"] * 1e3,
                  api_core_share=api_cpu / result["seconds"], machine_busy=busy / total if total else 0.0)
    return result


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--loadgen":
    loadgen_main(sys.argv[2])
