#!/usr/bin/env python
"""Time a 100,000-row subscriber import through the real HTTP API, on SQLite and on PostgreSQL.

    .venv/bin/python -m scripts.bench_import                       # 100,000 rows, SQLite and PostgreSQL
    .venv/bin/python -m scripts.bench_import --rows 20000 --db sqlite
    .venv/bin/python -m scripts.bench_import --db postgres --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

Run by hand, never from the tests. Steps:

1. writes a CSV of ``--rows`` data rows to a temporary file, row by row: distinct, valid US numbers
   (area codes 212 312 415 617 713 206, exchanges that ``phonenumbers`` accepts, a sample checked
   with ``app.audience.phones.normalize``) in three spellings, plus ~1% deliberately bad rows
   (an impossible phone number, or no consent evidence) to exercise the reject path;
2. for each database: a fresh one (an SQLite file in a temporary directory; on PostgreSQL a
   uniquely named database, dropped WITH (FORCE) afterwards), ``fineline migrate`` and
   ``fineline create-admin`` as subprocesses, then ``fineline serve --no-migrate`` on a free port of
   127.0.0.1 (FINELINE_WORKER=off, FINELINE_QUIET_HOURS=off, sandbox provider). After /readyz
   answers it makes a marketer, a verified sender and a single opt-in list over HTTP, uploads the
   file (streamed from disk, text/csv) and times the request, then uploads the same file again
   (the re-import must create nothing);
3. reads the server's memory from /proc/<pid>/status (VmRSS before, VmHWM = the peak; the peak is
   reset through /proc/<pid>/clear_refs before each upload, so each upload gets its own) and CPU
   time from /proc/<pid>/stat, and prints one table.

With ``--probe``, while each upload runs a second client times GET /healthz (is the server's event
loop free?) and POST /v1/lists (can anyone else write?) every 0.5 s and reports the worst latency.

All traffic stays on 127.0.0.1. Each upload is bounded by ``--timeout`` seconds, other requests by 30.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import os
import random
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.audience import phones
from scripts.benchkit import free_port, scratch_database

ROOT = Path(__file__).resolve().parent.parent

AREA_CODES = ("212", "312", "415", "617", "713", "206")
SENDER = "+15005550006"  # the sandbox provider owns it by default
HEADER = ["phone", "first_name", "consent_source", "consent_evidence", "consented_at", "city"]
NAMES = ("Ana", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hal", "Ivy", "Jo", "Kai", "Lu")
CITIES = ("New York", "Chicago", "San Francisco", "Boston", "Houston", "Seattle")
SOURCES = ("web_form", "paper", "import")
BAD_EVERY = 100  # one row in BAD_EVERY is deliberately bad
CHUNK = 64 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# ---------------------------------------------------------------------------------------------
# 1. the CSV file
# ---------------------------------------------------------------------------------------------

@dataclass
class CsvFile:
    path: Path
    rows: int
    good: int
    bad: int
    size: int


def _valid_exchanges(area: str) -> list[str]:
    """Exchanges 200-999 of ``area`` whose numbers phonenumbers accepts as SMS-capable (two probes each)."""
    keep = []
    for exchange in range(200, 1000):
        ex = f"{exchange:03d}"
        if ex[1:] == "11" or ex == "555":  # N11 service codes; 555 holds the fictional 01xx block
            continue
        try:
            for line in ("2345", "8071"):
                phones.normalize(f"+1{area}{ex}{line}")
        except phones.InvalidPhone:
            continue
        keep.append(ex)
    return keep


class NumberSource:
    """The k-th distinct valid number: area by k mod 6, then exchange, then a permuted line number."""

    def __init__(self) -> None:
        self.exchanges = {area: _valid_exchanges(area) for area in AREA_CODES}
        for area, found in self.exchanges.items():
            if len(found) < 100:
                raise RuntimeError(f"phonenumbers accepts only {len(found)} exchanges of area code {area}")

    def digits(self, k: int) -> tuple[str, str, str]:
        area = AREA_CODES[k % len(AREA_CODES)]
        rest = k // len(AREA_CODES)
        exchanges = self.exchanges[area]
        exchange = exchanges[rest % len(exchanges)]
        line_index = rest // len(exchanges)
        if line_index >= 10_000:
            raise ValueError("too many rows for the number plan used here")
        line = (line_index * 7919 + 1234) % 10_000  # 7919 is prime to 10,000: a bijection on 0..9999
        return area, exchange, f"{line:04d}"

    def spelled(self, k: int) -> str:
        area, exchange, line = self.digits(k)
        return (f"+1{area}{exchange}{line}", f"({area}) {exchange}-{line}", f"{area}-{exchange}-{line}")[k % 3]


def write_csv(path: Path, rows: int, seed: int = 1, first: int = 0) -> CsvFile:
    """``rows`` rows, the numbers NumberSource's ``first`` to ``first + rows - 1`` (so files written
    with different ``first`` and no overlap share no number)."""
    numbers = NumberSource()
    rng = random.Random(seed)
    # A sample of the good numbers must pass the same check the import applies.
    sample = rng.sample(range(first, first + rows), min(rows, 2000))
    seen = set()
    for k in sample:
        e164 = phones.normalize(numbers.spelled(k))  # raises InvalidPhone if the generator is wrong
        seen.add(e164)
    if len(seen) != len(sample):
        raise RuntimeError("the number generator produced duplicates in its sample")

    start = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
    good = bad = 0
    with path.open("w", newline="", encoding="utf-8", buffering=1 << 20) as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            phone = numbers.spelled(first + i)
            when = (start + timedelta(seconds=37 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")
            source = SOURCES[i % len(SOURCES)]
            evidence = ("https://acme.example/join (disclosure v3)" if source == "web_form"
                        else f"{source} sign-up #{i}")
            if i % BAD_EVERY == BAD_EVERY - 1:
                bad += 1
                if (i // BAD_EVERY) % 2 == 0:
                    phone = f"12-{i % 1000}"  # too few digits for any number
                else:
                    evidence = ""  # consent without evidence is refused
            else:
                good += 1
            writer.writerow([phone, NAMES[i % len(NAMES)], source, evidence, when, CITIES[i % len(CITIES)]])
    return CsvFile(path=path, rows=rows, good=good, bad=bad, size=path.stat().st_size)


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


# ---------------------------------------------------------------------------------------------
# 2. databases, processes, /proc
# ---------------------------------------------------------------------------------------------



async def _scalar(url: str, statement: str, **params) -> int:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text(statement), params)).scalar_one())
    finally:
        await engine.dispose()


def _fineline() -> list[str]:
    script = Path(sys.executable).parent / "fineline"
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]


def _env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINELINE_")}
    env.update({
        "FINELINE_DATABASE_URL": database_url,
        "FINELINE_WORKER": "off",
        "FINELINE_QUIET_HOURS": "off",
        # bench_dispatch --after-import launches three campaigns to the imported list back to back:
        # measured as sends, not as the frequency cap's skips.
        "FINELINE_FREQUENCY_CAP_MESSAGES": "0",
        "FINELINE_PROVIDER": "sandbox",
        # Outside the embedded default (PostgreSQL) every process needs an explicit webhook token.
        "FINELINE_TWILIO_AUTH_TOKEN": "bench-token-" + os.urandom(8).hex(),
        "FINELINE_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    })
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> str:
    done = subprocess.run([*_fineline(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"fineline {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def _status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM of ``pid`` in bytes."""
    values = {}
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) * 1024
    return values


def _reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False when the kernel refuses."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


class Server:
    def __init__(self, env: dict[str, str], cwd: Path, log: Path, port: int | None = None, workers: int = 1) -> None:
        self.port = port or free_port()
        self.log = log
        self._log_handle = log.open("wb")
        self.proc = subprocess.Popen(
            [*_fineline(), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--no-migrate",
             *(["--workers", str(workers)] if workers > 1 else [])],
            env=env, cwd=cwd, stdout=self._log_handle, stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base, timeout=2, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get("/readyz").status_code == 200:
                        return
                time.sleep(0.1)
        raise RuntimeError(f"the server was not ready within {timeout:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        self._log_handle.flush()
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_handle.close()


# ---------------------------------------------------------------------------------------------
# 3. one database's run
# ---------------------------------------------------------------------------------------------

@dataclass
class Probe:
    """While an upload runs: GET /healthz (is the event loop free?) and POST /v1/lists (can others write?)."""

    base: str
    headers: dict
    sender_id: str
    interval: float = 0.5
    health: list[float] = field(default_factory=list)
    writes: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30, trust_env=False) as client:
            n = 0
            while not self._stop.wait(self.interval):
                n += 1
                write = {"name": f"probe {n}", "opt_in": "single", "sender_id": self.sender_id}
                for kind, method, path, kwargs in (
                    ("healthz", "GET", "/healthz", {}),
                    ("write", "POST", "/v1/lists", {"headers": self.headers, "json": write}),
                ):
                    started = time.perf_counter()
                    try:
                        response = client.request(method, path, **kwargs)
                        ok = response.status_code < 300
                        detail = f"{response.status_code} {response.text[:120]}"
                    except httpx.HTTPError as exc:
                        ok, detail = False, f"{type(exc).__name__}"
                    (self.health if kind == "healthz" else self.writes).append(time.perf_counter() - started)
                    if not ok:
                        self.failures.append(f"{kind}: {detail}")

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def summary(self) -> str:
        def worst(values: list[float]) -> str:
            return f"max {max(values) * 1000:.0f} ms over {len(values)}" if values else "none"
        text = f"healthz {worst(self.health)}; concurrent writes {worst(self.writes)}; {len(self.failures)} failed"
        return text + (f" (first: {self.failures[0]})" if self.failures else "")


@dataclass
class Upload:
    seconds: float
    report: dict
    peak_rss: int
    server_cpu: float
    probe: str = ""


@dataclass
class Result:
    database: str
    rows: int
    first: Upload | None = None
    again: Upload | None = None
    rss_before: int = 0
    stored: int = -1
    problems: list[str] = field(default_factory=list)
    error: str | None = None


def _expect(response: httpx.Response, status: int) -> dict:
    if response.status_code != status:
        raise RuntimeError(f"{response.request.method} {response.request.url.path} -> {response.status_code}: "
                           f"{response.text[:500]}")
    return response.json()


def _upload(client: httpx.Client, server: Server, list_id: str, data: CsvFile, headers: dict, timeout: float,
            probe: Probe | None) -> Upload:
    pid = server.proc.pid
    can_reset = _reset_peak(pid)
    cpu0 = _cpu_seconds(pid)
    with probe or contextlib.nullcontext():
        started = time.perf_counter()
        response = client.post(
            f"/v1/lists/{list_id}/imports", content=file_chunks(data.path),
            headers={**headers, "content-type": "text/csv", "content-length": str(data.size)},
            timeout=httpx.Timeout(timeout, connect=10),
        )
        seconds = time.perf_counter() - started
    report = _expect(response, 200)
    memory = _status(pid)
    return Upload(seconds=seconds, report=report, server_cpu=_cpu_seconds(pid) - cpu0,
                  peak_rss=memory["VmHWM"] if can_reset else max(memory["VmHWM"], memory["VmRSS"]),
                  probe=probe.summary() if probe else "")


def bench_one(kind: str, database_url: str, data: CsvFile, work: Path, timeout: float, probe: bool) -> Result:
    result = Result(database=kind, rows=data.rows)
    env = _env(database_url)
    _run(["migrate"], env, work)
    admin_key = _run(["create-admin", "bench-admin@example.com"], env, work).strip().splitlines()[-1]
    server = Server(env, work, work / f"server-{kind}.log")
    try:
        server.wait_ready()
        admin = {"Authorization": f"Bearer {admin_key}"}
        with httpx.Client(base_url=server.base, timeout=30, trust_env=False) as client:
            user = _expect(client.post("/v1/users", json={"email": "bench-marketer@example.com", "name": "Bench",
                                                          "roles": ["marketer"]}, headers=admin), 201)
            marketer = {"Authorization": f"Bearer {user['api_key']}"}
            sender = _expect(client.post("/v1/senders", json={"kind": "long_code", "address": SENDER,
                                                              "label": "Main"}, headers=admin), 201)
            _expect(client.post(f"/v1/senders/{sender['id']}/verify", headers=admin), 200)
            lst = _expect(client.post("/v1/lists", json={"name": "Bench import", "opt_in": "single",
                                                         "sender_id": sender["id"]}, headers=marketer), 201)
            result.rss_before = _status(server.proc.pid)["VmRSS"]

            def probing() -> Probe | None:
                return Probe(server.base, marketer, sender["id"]) if probe else None

            result.first = _upload(client, server, lst["id"], data, marketer, timeout, probing())
            _progress(kind, "import", result.first, data.rows)
            result.stored = asyncio.run(_scalar(
                database_url, "SELECT count(*) FROM subscription WHERE list_id = :list_id", list_id=lst["id"]))
            result.again = _upload(client, server, lst["id"], data, marketer, timeout, probing())
            _progress(kind, "re-import", result.again, data.rows)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(Exception):
            result.error += f"\n--- server log ---\n{server.tail()}"
    finally:
        server.stop()
    if result.first and result.again:
        first, again = result.first.report, result.again.report
        if (first["accepted"], first["rejected_count"], first["created"]) != (data.good, data.bad, data.good):
            result.problems.append(f"first import: accepted/rejected/created {first['accepted']}/"
                                   f"{first['rejected_count']}/{first['created']}, expected {data.good}/{data.bad}/{data.good}")
        if result.stored != data.good:
            result.problems.append(f"{result.stored} subscriptions stored, expected {data.good}")
        if again["created"] != 0 or again["unchanged"] != data.good:
            result.problems.append(f"re-import: created {again['created']}, unchanged {again['unchanged']} "
                                   f"(expected 0 and {data.good})")
    return result


def _progress(kind: str, what: str, upload: Upload, rows: int) -> None:
    r = upload.report
    print(f"  {kind} {what}: {upload.seconds:.1f} s ({rows / upload.seconds:,.0f} rows/s), accepted {r['accepted']:,}, "
          f"created {r['created']:,}, rejected {r['rejected_count']:,}, peak RSS {_mb(upload.peak_rss)} MB"
          + (f"\n    probe: {upload.probe}" if upload.probe else ""), flush=True)


def run_sqlite(data: CsvFile, work: Path, timeout: float, probe: bool) -> Result:
    db_dir = Path(tempfile.mkdtemp(prefix="sqlite-", dir=work))
    return bench_one("sqlite", f"sqlite+aiosqlite:///{db_dir / 'bench.db'}", data, work, timeout, probe)


def run_postgres(data: CsvFile, work: Path, timeout: float, probe: bool, pg_url: str) -> Result:
    with scratch_database(pg_url, "import") as url:
        return bench_one("postgres", url, data, work, timeout, probe)


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------

def _mb(value: int) -> str:
    return f"{value / 1_048_576:.0f}"


def print_table(results: list[Result], data: CsvFile) -> None:
    head = ["database", "rows", "seconds", "rows/s", "srv CPU s", "accepted", "rejected",
            "re-import s", "created on re-import", "RSS before MB", "peak RSS MB", "peak RSS re-import MB"]
    lines = []
    for r in results:
        if r.first is None or r.again is None:
            lines.append([r.database, str(r.rows), "failed", *[""] * (len(head) - 3)])
            continue
        f, a = r.first, r.again
        lines.append([r.database, f"{r.rows:,}", f"{f.seconds:.1f}", f"{r.rows / f.seconds:,.0f}", f"{f.server_cpu:.1f}",
                      f"{f.report['accepted']:,}", f"{f.report['rejected_count']:,}", f"{a.seconds:.1f}",
                      f"{a.report['created']:,}", _mb(r.rss_before), _mb(f.peak_rss), _mb(a.peak_rss)])
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(head)]
    print()
    print(f"CSV: {data.rows:,} rows ({data.good:,} good, {data.bad:,} bad), {data.size / 1_048_576:.1f} MB")
    print("  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True)))
    for line in lines:
        print("  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)))
    for r in results:
        for label, upload in (("import", r.first), ("re-import", r.again)):
            if upload and upload.probe:
                print(f"probe {r.database} {label}: {upload.probe}")
        for problem in r.problems:
            print(f"! {r.database}: {problem}")
        if r.error:
            print(f"! {r.database} failed: {r.error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="data rows in the CSV (about 1%% of them bad)")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server on 127.0.0.1; a fresh database is made on it and dropped")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed for each upload")
    parser.add_argument("--probe", action="store_true",
                        help="during each upload, time GET /healthz and a concurrent write (POST /v1/lists) every 0.5 s")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be positive")

    command = shlex.join([os.path.relpath(sys.executable, Path.cwd()) if sys.executable.startswith(str(ROOT))
                          else sys.executable, *sys.argv])
    results = []
    with tempfile.TemporaryDirectory(prefix="fineline-bench-import-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        data = write_csv(work / "subscribers.csv", args.rows)
        print(f"wrote {data.rows:,} rows ({data.size / 1_048_576:.1f} MB) in {time.perf_counter() - started:.1f} s",
              flush=True)
        for kind in (("sqlite", "postgres") if args.db == "both" else (args.db,)):
            print(f"{kind}: importing …", flush=True)
            try:
                if kind == "sqlite":
                    results.append(run_sqlite(data, work, args.timeout, args.probe))
                else:
                    results.append(run_postgres(data, work, args.timeout, args.probe, args.pg_url))
            except Exception as exc:  # setup failed before a Result existed (e.g. no PostgreSQL)
                results.append(Result(database=kind, rows=data.rows, error=f"{type(exc).__name__}: {exc}"))
        print_table(results, data)
    print(f"\ncommand: {command}")
    return 0 if all(r.error is None and not r.problems for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
