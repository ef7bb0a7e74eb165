"""A small world for dispatch tests: a verified sender, a list of opted-in people, an approved campaign."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import OWNED

CONSENT = {"source": "web_form", "evidence": "https://acme.example/join", "consented_at": "2026-10-01T12:00:00Z"}
BODY = "Fineline Demo Co: Hi {first_name|there}, fall sale today. Reply STOP to opt out."
#: 18:00 UTC = 10:00 in San Francisco, 13:00 in New York: inside every sending window.
DAYTIME = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
PHONES = ["+14155552671", "+14155552672", "+14155552673"]


async def build(client, admin, marketer, reviewer, *, phones=PHONES, mps=500, launch=True, body=BODY) -> dict:
    sender = (await client.post("/v1/senders", json={"kind": "long_code", "address": OWNED[0], "label": "Main",
                                                     "mps": mps}, headers=admin.headers)).json()
    await client.post(f"/v1/senders/{sender['id']}/verify", headers=admin.headers)
    lst = (await client.post("/v1/lists", json={"name": "VIP", "opt_in": "single", "sender_id": sender["id"]},
                             headers=marketer.headers)).json()
    subscribers = {}
    for phone in phones:
        added = await client.post(f"/v1/lists/{lst['id']}/subscribers", json={"phone": phone, "first_name": "Ana",
                                                                                "consent": CONSENT},
                                  headers=marketer.headers)
        subscribers[phone] = added.json()["subscriber"]["id"]
    campaign = (await client.post("/v1/campaigns", json={"name": "Fall", "sender_id": sender["id"],
                                                         "list_ids": [lst["id"]], "body": body},
                                  headers=marketer.headers)).json()
    await client.post(f"/v1/campaigns/{campaign['id']}/submit", headers=marketer.headers)
    await client.post(f"/v1/campaigns/{campaign['id']}/review", json={"decision": "approve", "comment": "ok"},
                      headers=reviewer.headers)
    if launch:
        launched = await client.post(f"/v1/campaigns/{campaign['id']}/launch", headers=marketer.headers)
        assert launched.json()["state"] == "sending", launched.text
    return {"sender": sender, "list": lst, "campaign": campaign, "subscribers": subscribers}


async def drain(db, provider, settings, *, now=DAYTIME, rounds: int = 10) -> int:
    """Dispatch until nothing is claimed: on a loaded machine a send that misses its rate slot goes
    back to the queue and leaves with a later claim. Returns how many were sent."""
    from app.dispatch import runner

    sent = 0
    for _ in range(rounds):
        result = await runner.dispatch_once(db, provider, settings, now=now)
        sent += result.counts["sent"]
        if not result.counts["claimed"]:
            break
    return sent
