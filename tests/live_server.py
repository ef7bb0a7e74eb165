"""A real Fineline server process for browser and end-to-end tests: a free port, the CLI, readiness."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli(args, env) -> str:
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


@contextmanager
def serving(env: dict[str, str], port: int) -> Iterator[None]:
    """``fineline serve`` on ``port`` until the block ends; returns once /readyz answers 200."""
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--no-migrate"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            for _ in range(150):
                try:
                    if http.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        yield
    finally:
        server.terminate()
        server.wait(timeout=30)
