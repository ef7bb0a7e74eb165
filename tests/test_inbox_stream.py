"""The inbox stream: catch-up with Last-Event-ID, and a customer's text visible live within a second of
the webhook's answer — measured against a real server process over real HTTP."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from app.db import migrations
from app.models import ConversationEvent
from tests.live_server import environment, first_admin, free_port, serving
from tests.test_inbox import agent, available, customer_says, sender  # noqa: F401  (fixtures)

TOKEN = "inbox-stream-token"


def _events(text: str) -> list[dict]:
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in fields and fields["event"] != "closed":  # "closed": the server ended the stream
            events.append({"id": int(fields["id"]), "event": fields["event"], **json.loads(fields["data"])})
    return events


async def test_the_stream_catches_up_from_last_event_id(client, sender, agent, session):  # noqa: F811
    await available(client, agent)
    await customer_says(client, "first")
    seen = int(await session.scalar(select(func.max(ConversationEvent.id))))
    await customer_says(client, "second", phone="+14155552699")
    # (httpx's ASGI transport hands over a streamed body only when it ends: ask the stream to close.)
    async with client.stream("GET", "/v1/conversations/stream", params={"poll": 0.05, "duration": 0.4},
                             headers={**agent.headers, "Last-Event-ID": str(seen)}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _events((await response.aread()).decode())
    assert [e["id"] for e in events] == sorted(e["id"] for e in events) and events[0]["id"] > seen
    inbound = [e for e in events if e["event"] == "inbound"]
    assert [e["body"] for e in inbound] == ["second"]
    assert inbound[0]["conversation"]["phone"] == "+14155552699"
    assert {"inbound", "assigned"} <= {e["event"] for e in events}
    forbidden = await client.get("/v1/conversations/stream", params={"duration": 0.1})
    assert forbidden.status_code == 401


@pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")
def test_an_inbound_text_is_in_the_stream_within_a_second_of_the_webhook(scratch_database_url):
    migrations.upgrade(scratch_database_url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = environment(FINELINE_DATABASE_URL=scratch_database_url, FINELINE_WORKER="off", FINELINE_PROVIDER="sandbox",
                      FINELINE_PUBLIC_BASE_URL=base, FINELINE_TWILIO_AUTH_TOKEN=TOKEN,
                      FINELINE_SANDBOX_OWNED_NUMBERS="+15005550006")
    admin_key = first_admin(env, migrate=False)
    with serving(env, port):
        latencies = asyncio.run(_measure(base, admin_key))
    assert len(latencies) == 3 and max(latencies) <= 1.0, latencies


async def _measure(base: str, admin_key: str) -> list[float]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        admin = {"Authorization": f"Bearer {admin_key}"}
        agent = (await http.post("/v1/users", json={"email": "ana@example.com", "name": "Ana", "roles": ["agent"]},
                                 headers=admin)).json()["api_key"]
        sender = (await http.post("/v1/senders", json={"kind": "long_code", "address": "+15005550006",
                                                       "label": "Main"}, headers=admin)).json()
        assert (await http.post(f"/v1/senders/{sender['id']}/verify", headers=admin)).status_code == 200

        arrived: dict[str, float] = {}
        connected = asyncio.Event()

        async def listen():
            async with http.stream("GET", "/v1/conversations/stream", params={"duration": 20},
                                   headers={"Authorization": f"Bearer {agent}"}) as response:
                async for line in response.aiter_lines():
                    connected.set()
                    if line.startswith("data: "):
                        data = json.loads(line[6:])
                        if data["kind"] == "inbound":
                            arrived.setdefault(data["body"], time.monotonic())
                    if len(arrived) == 3:
                        return

        listener = asyncio.create_task(listen())
        await asyncio.wait_for(connected.wait(), 10)
        await asyncio.sleep(0.5)  # the stream has taken its starting position
        answered: dict[str, float] = {}
        for index in range(3):
            body = f"is the blue one in stock? ({index})"
            params = {"MessageSid": f"SM{index:032d}", "AccountSid": "AC" + "0" * 32, "From": f"+1415555270{index}",
                      "To": "+15005550006", "Body": body, "NumMedia": "0"}
            signature = RequestValidator(TOKEN).compute_signature(f"{base}/webhooks/twilio/inbound", params)
            response = await http.post("/webhooks/twilio/inbound", data=params,
                                       headers={"X-Twilio-Signature": signature})
            answered[body] = time.monotonic()
            assert response.status_code == 200
            await asyncio.sleep(0.7)
        await asyncio.wait_for(listener, 10)
        return [arrived[body] - answered[body] for body in answered]
