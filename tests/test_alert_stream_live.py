"""Issue 21 item 5 on a real server: an alert stream ends soon after its key is revoked or its user
offboarded, lasts at most its maximum duration, and one key holds a capped number of streams."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time

import httpx
import pytest

from tests.live_server import cli, free_port, serving

RECHECK, MAX_SECONDS, PER_KEY = 0.3, 10, 2
CLOSES_WITHIN = 4.0  # seconds after a revocation: the re-check (0.3 s) plus a loaded machine's slack


async def _follow(http: httpx.AsyncClient, key: str, opened: asyncio.Event | None = None) -> dict:
    """Read one stream to its end: its alert events, the reason it closed, when it ended. ``opened`` is
    set once the server answered (the stream holds its slot from then on)."""
    out = {"alerts": 0, "closed": None}
    async with http.stream("GET", "/v1/alerts/stream", params={"poll": 0.2},
                           headers={"Authorization": f"Bearer {key}"}) as response:
        assert response.status_code == 200, await response.aread()
        if opened is not None:
            opened.set()
        kind = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "closed":
                out["closed"] = json.loads(line[6:])["reason"]
            elif line.startswith("data: "):
                out["alerts"] += 1
    out["ended"] = time.monotonic()
    return out


@pytest.fixture
def live_server(tmp_path):
    """``fineline serve`` as a real process on SQLite, with short stream limits: (base URL, admin headers)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINELINE_", "TEST_DATABASE_URL"))}
    env.update(FINELINE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'stream.db'}", FINELINE_WORKER="off",
               FINELINE_PROVIDER="sandbox", FINELINE_PUBLIC_BASE_URL=base, FINELINE_TWILIO_AUTH_TOKEN="stream-token",
               FINELINE_ALERT_STREAM_RECHECK_SECONDS=str(RECHECK), FINELINE_ALERT_STREAM_MAX_SECONDS=str(MAX_SECONDS),
               FINELINE_ALERT_STREAMS_PER_KEY=str(PER_KEY))
    cli(["migrate"], env)
    admin = {"Authorization": f"Bearer {cli(['create-admin', 'admin@example.com'], env).strip().splitlines()[-1]}"}
    with serving(env, port):
        yield base, admin


@pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")
async def test_streams_close_on_revocation_offboarding_and_their_maximum_duration(live_server):
    base, admin = live_server
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(), base_url=base, timeout=30) as http:
        ops = (await http.post("/v1/users", json={"email": "ops@example.com", "name": "Ops", "roles": ["ops"]},
                               headers=admin)).json()
        key2 = (await http.post(f"/v1/users/{ops['id']}/api-keys", headers=admin)).json()["api_key"]
        other = (await http.post("/v1/users", json={"email": "ops2@example.com", "name": "Ops 2", "roles": ["ops"]},
                                 headers=admin)).json()
        key1_id = next(k["id"] for k in (await http.get(f"/v1/users/{ops['id']}/api-keys", headers=admin)).json()
                       if ops["api_key"].startswith(k["prefix"] + "_"))

        started = time.monotonic()
        opened = [asyncio.Event(), asyncio.Event()]
        a = asyncio.create_task(_follow(http, ops["api_key"], opened[0]))
        b = asyncio.create_task(_follow(http, ops["api_key"], opened[1]))
        d = asyncio.create_task(_follow(http, key2))
        e = asyncio.create_task(_follow(http, other["api_key"]))
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in opened)), timeout=20)
        third = await http.get("/v1/alerts/stream", headers={"Authorization": f"Bearer {ops['api_key']}"})
        assert third.status_code == 429 and third.json()["error"]["code"] == "too_many_streams"

        revoked_at = time.monotonic()
        assert (await http.delete(f"/v1/users/{ops['id']}/api-keys/{key1_id}", headers=admin)).status_code == 200
        for stream in await asyncio.gather(a, b):
            assert "revoked" in stream["closed"] and stream["ended"] - revoked_at < CLOSES_WITHIN, stream
        assert not d.done()  # the user's other key still stands

        offboarded_at = time.monotonic()
        assert (await http.post(f"/v1/users/{ops['id']}/offboard", headers=admin)).status_code == 200
        stream = await d
        assert "offboarded" in stream["closed"] and stream["ended"] - offboarded_at < CLOSES_WITHIN, stream

        stream = await e  # nobody touched this one: it ends at its maximum duration
        assert "maximum duration" in stream["closed"], stream
        assert MAX_SECONDS - 0.5 < stream["ended"] - started < MAX_SECONDS + 6, stream["ended"] - started
        # Its slot was given back: the key holds its full quota of streams at once again.
        async with contextlib.AsyncExitStack() as held:
            for _ in range(PER_KEY):
                response = await held.enter_async_context(http.stream(
                    "GET", "/v1/alerts/stream", headers={"Authorization": f"Bearer {other['api_key']}"}))
                assert response.status_code == 200
