"""The `fineline` command, run as a real process the way the README and docker-compose run it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import httpx
import pytest

from tests.live_server import free_port, wait_ready

FINELINE = [sys.executable, "-m", "app.cli"]


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINELINE_")}
    env.update(FINELINE_DATABASE_URL=url, FINELINE_QUIET_HOURS="off")
    if not url.startswith("sqlite"):  # outside the embedded default the provider and token are explicit
        env.update(FINELINE_PROVIDER="sandbox", FINELINE_TWILIO_AUTH_TOKEN="cli-test-token")
    return env


def test_migrate_then_create_admin_prints_key_last(scratch_database_url):
    env = _env(scratch_database_url)
    migrate = subprocess.run([*FINELINE, "migrate"], env=env, capture_output=True, text=True, timeout=120)
    assert migrate.returncode == 0, migrate.stderr
    created = subprocess.run([*FINELINE, "create-admin", "root@example.com"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("fl_") and " " not in key

    again = subprocess.run([*FINELINE, "create-admin", "root@example.com"], env=env, capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 1
    assert "already exists" in again.stderr


def _serve(env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    return subprocess.Popen([*FINELINE, "serve", "--port", str(port), "--migrate"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), port


@contextlib.contextmanager
def _ready_client(port: int):
    with httpx.Client(transport=httpx.HTTPTransport(), base_url=f"http://127.0.0.1:{port}") as http:
        ready = wait_ready(http, seconds=60)
        assert ready is not None and ready.status_code == 200
        yield http


@pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")
def test_serve_starts_migrates_and_answers(scratch_database_url):
    env = _env(scratch_database_url)
    server, port = _serve(env)
    try:
        with _ready_client(port) as http:
            created = subprocess.run([*FINELINE, "create-admin", "boss@example.com"], env=env,
                                     capture_output=True, text=True, timeout=120)
            key = created.stdout.strip().splitlines()[-1]
            me = http.get("/v1/me", headers={"Authorization": f"Bearer {key}"})
            assert me.status_code == 200
            assert me.json()["email"] == "boss@example.com"
    finally:
        server.terminate()
        server.wait(timeout=30)
    # uvicorn re-raises SIGTERM after a graceful shutdown; what matters is that the shutdown was clean.
    assert "Application shutdown complete" in server.stdout.read()


@pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")
@pytest.mark.parametrize(("trusted", "metrics"), [(None, 403), ("10.0.0.0/8", 200)])
def test_serve_believes_forwarded_addresses_only_from_trusted_proxies(scratch_database_url, trusted, metrics):
    """A request from this machine saying it forwards 203.0.113.5: with the default trusted proxies
    (loopback) it is 203.0.113.5's, and /metrics (loopback clients only) refuses it; with
    FINELINE_TRUSTED_PROXIES naming another network the header is not believed and it is answered."""
    env = _env(scratch_database_url)
    if trusted is not None:
        env["FINELINE_TRUSTED_PROXIES"] = trusted
    server, port = _serve(env)
    try:
        with _ready_client(port) as http:
            assert http.get("/metrics").status_code == 200  # this machine, no header
            assert http.get("/metrics", headers={"X-Forwarded-For": "203.0.113.5"}).status_code == metrics
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize("bad", ["10.0.0.300", "proxy.internal", "10.0.0.0/8,*x"])
def test_a_malformed_trusted_proxy_is_refused_by_name(bad):
    from pydantic import ValidationError

    from app.config import Settings

    with pytest.raises(ValidationError) as error:
        Settings(trusted_proxies=bad, _env_file=None)
    assert "trusted_proxies" in str(error.value) and "is not an IP address or network" in str(error.value)
    assert Settings(trusted_proxies=" 10.0.0.0/8 , 192.168.1.7 ", _env_file=None).trusted_proxies == "10.0.0.0/8,192.168.1.7"
