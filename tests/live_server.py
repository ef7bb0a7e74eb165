"""`fineline` as real processes for tests that need a real server: a free port, a CLI call, readiness."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli(args, env) -> str:
    """Run ``fineline ARGS`` to completion; its stdout (the test fails on a non-zero exit)."""
    result = subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def environment(**settings: str) -> dict[str, str]:
    """This process's environment without any Fineline or test database setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINELINE_", "TEST_DATABASE_URL"))}
    env.update(settings)
    return env


def sandbox_environment(database_url: str, base: str, token: str, owned: str, **settings: str) -> dict[str, str]:
    """A server on the sandbox provider, worker inline, quiet hours off, quick and reliable callbacks."""
    return environment(**{"FINELINE_DATABASE_URL": database_url, "FINELINE_WORKER": "inline",
                          "FINELINE_PROVIDER": "sandbox", "FINELINE_QUIET_HOURS": "off",
                          "FINELINE_PUBLIC_BASE_URL": base, "FINELINE_TWILIO_AUTH_TOKEN": token,
                          "FINELINE_SANDBOX_OWNED_NUMBERS": owned, "FINELINE_SANDBOX_CALLBACK_DELAY": "0.2",
                          "FINELINE_SANDBOX_FAILURE_SHARE": "0", **settings})


def first_admin(env: dict[str, str], *, migrate: bool = True) -> str:
    """Migrate (unless told not to) and make the first admin; its API key."""
    if migrate:
        cli(["migrate"], env)
    return cli(["create-admin", "admin@example.com"], env).strip().splitlines()[-1]


def wait_ready(http: httpx.Client, *, seconds: float = 30) -> httpx.Response | None:
    """Poll ``/readyz`` until it answers 200 (or ``seconds`` pass); the last answer."""
    deadline, ready = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        try:
            ready = http.get("/readyz")
            if ready.status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return ready


@contextlib.contextmanager
def serving(env: dict[str, str], port: int, *args: str) -> Iterator[subprocess.Popen]:
    """``fineline serve`` on ``port`` (no migration unless ``args`` ask), ready when entered, stopped on exit."""
    # The server's output goes to a file, not a pipe: nobody reads a pipe while the test runs, and a
    # full pipe (64 KiB of access log) would block the server mid-test.
    with tempfile.TemporaryFile(mode="w+") as log:
        yield from _serve_logging_to(log, env, port, args)


def _serve_logging_to(log, env: dict[str, str], port: int, args: tuple[str, ...]) -> Iterator[subprocess.Popen]:
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), *(args or ("--no-migrate",))],
                              env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        with httpx.Client(transport=httpx.HTTPTransport(), base_url=f"http://127.0.0.1:{port}") as http:
            ready = wait_ready(http)
        if ready is None or ready.status_code != 200:
            log.seek(0)
            raise AssertionError(f"fineline serve never became ready on port {port}:\n{log.read()[-4000:]}")
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)
