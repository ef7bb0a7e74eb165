"""The `fineline` command, run as a real process the way the README and docker-compose run it."""

from __future__ import annotations

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


@pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")
def test_serve_starts_migrates_and_answers(scratch_database_url):
    env = _env(scratch_database_url)
    port = free_port()
    server = subprocess.Popen([*FINELINE, "serve", "--port", str(port), "--migrate"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with httpx.Client(transport=httpx.HTTPTransport(), base_url=f"http://127.0.0.1:{port}") as http:
            ready = wait_ready(http, seconds=60)
            assert ready is not None and ready.status_code == 200
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
