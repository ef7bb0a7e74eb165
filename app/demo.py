"""``fineline demo``: the whole story on the embedded default, over real HTTP, in about a minute.

A Fineline server (SQLite, sandbox provider, worker inline) starts on a free local port. Through
its API: an admin verifies the company's short code; a marketer imports opted-in subscribers with
their consent evidence and writes a campaign; a reviewer (a second person) approves it; it sends
through the sandbox, which posts signed delivery callbacks back. Then a wave of customers replies
STOP — signed like Twilio's own webhooks — the spike guard fires, the campaign pauses, and the
summary shows how many people were spared. Last, a customer's question lands in the company inbox,
an agent answers from the company's number, a personal reply is held for review, and the agent's
conversation passes to a colleague when she leaves.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import httpx
import uvicorn
from twilio.request_validator import RequestValidator

BRAND = "Northwind Outfitters"
SHORT_CODE = "24680"
TOKEN = "demo-auth-token"


def _say(text: str = "") -> None:
    print(text, flush=True)


def _bar(done: int, total: int, width: int = 30) -> str:
    filled = int(width * done / total) if total else width
    return "[" + "#" * filled + "." * (width - filled) + f"] {done}/{total}"


class Progress:
    """The sending progress line: redrawn in place with a carriage return on a terminal; anywhere
    else (a pipe, a log file) one plain line per change, so a log holds no carriage returns."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty()
        self.last: str | None = None

    def show(self, text: str) -> None:
        if self.live:
            self.stream.write(f"\r{text}   ")
        elif text != self.last:
            self.stream.write(f"{text}\n")
        self.last = text
        self.stream.flush()

    def end(self) -> None:
        if self.live and self.last is not None:
            self.stream.write("\n")
            self.stream.flush()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _phones(count: int) -> list[str]:
    return [f"+1212{200 + i // 10000:03d}{i % 10000:04d}" for i in range(count)]


async def _story(base: str, admin_key: str, audience: int, wave: int) -> int:
    async with httpx.AsyncClient(base_url=base, timeout=30.0) as http:
        def auth(key: str) -> dict:
            return {"Authorization": f"Bearer {key}"}

        async def call(method: str, path: str, key: str, **kwargs) -> dict:
            response = await http.request(method, path, headers={**auth(key), **kwargs.pop("headers", {})}, **kwargs)
            if response.status_code >= 400:
                raise SystemExit(f"{method} {path} answered {response.status_code}: {response.text}")
            return response.json()

        _say("1. People and roles")
        keys = {}
        people = (("marketer", "Mia Marketer", ["marketer", "reviewer"]), ("reviewer", "Rui Reviewer", ["reviewer"]),
                  ("ops", "Olu Ops", ["ops"]))
        for role, name, roles in people:
            user = await call("POST", "/v1/users", admin_key,
                              json={"email": f"{role}@northwind.example", "name": name, "roles": roles})
            keys[role] = user["api_key"]
            _say(f"   {name} joins as {' and '.join(roles)}; their API key starts {user['api_key'][:11]}…")

        _say("\n2. A verified company sender — never an employee's own phone")
        personal = await call("POST", "/v1/senders", admin_key,
                              json={"kind": "long_code", "address": "+14155552671", "label": "Mia's cell"})
        refused = await http.post(f"/v1/senders/{personal['id']}/verify", headers=auth(admin_key))
        _say(f"   Mia's personal mobile: refused ({refused.status_code}) — {refused.json()['error']['message']}")
        sender = await call("POST", "/v1/senders", admin_key,
                            json={"kind": "short_code", "address": SHORT_CODE, "label": "Northwind short code", "mps": 20})
        sender = await call("POST", f"/v1/senders/{sender['id']}/verify", admin_key)
        _say(f"   short code {SHORT_CODE}: {sender['state']} by the provider, {sender['mps']} messages/second")

        _say("\n3. An opted-in audience, with the proof of every consent")
        lst = await call("POST", "/v1/lists", keys["marketer"],
                         json={"name": "Winter VIPs", "opt_in": "single", "sender_id": sender["id"]})
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["phone", "first_name", "consent_source", "consent_evidence", "consented_at", "city"])
        names = ["Ana", "Ben", "Cai", "Dee", "Eli", "Fay", "Gus", "Hal"]
        for i, phone in enumerate(_phones(audience)):
            writer.writerow([phone, names[i % len(names)], "web_form",
                             "https://northwind.example/join — 'Yes, text me offers (up to 4/mo)'", "2026-10-01", "Brooklyn"])
        writer.writerow(["+1555", "Bad", "web_form", "x", "2026-10-01", ""])
        writer.writerow(["+12125550999", "NoProof", "web_form", "", "2026-10-01", ""])
        report = await call("POST", f"/v1/lists/{lst['id']}/imports", keys["marketer"], content=out.getvalue(),
                            headers={"content-type": "text/csv"})
        _say(f"   imported {report['accepted']} subscribers; rejected {report['rejected_count']}:")
        for rejected in report["rejected"]:
            _say(f"     row {rejected['row']}: {rejected['reason']}")

        _say("\n4. A campaign, checked by machine and reviewed by a second person")
        body = (f"{BRAND}: {{first_name|Hi there}}, our winter sale starts now — 30% off outerwear in store "
                "and online. Reply STOP to opt out.")
        campaign = await call("POST", "/v1/campaigns", keys["marketer"],
                              json={"name": "Winter sale", "sender_id": sender["id"], "list_ids": [lst["id"]],
                                    "body": body})
        check = await call("POST", f"/v1/campaigns/{campaign['id']}/check", keys["reviewer"])
        _say(f"   {len(check['findings'])} finding(s); {check['segments']} segment(s) {check['encoding']}; "
             f"audience {check['audience']}; sample: \"{check['samples'][0]['text'][:70]}…\"")
        for finding in check["findings"]:
            _say(f"     [{finding['severity']}] {finding['message']}")
        await call("POST", f"/v1/campaigns/{campaign['id']}/submit", keys["marketer"])
        self_review = await http.post(f"/v1/campaigns/{campaign['id']}/review", headers=auth(keys["marketer"]),
                                      json={"decision": "approve", "comment": "lgtm"})
        _say(f"   Mia tries to approve her own campaign: {self_review.status_code} "
             f"({self_review.json()['error']['message']})")
        await call("POST", f"/v1/campaigns/{campaign['id']}/review", keys["reviewer"],
                   json={"decision": "approve", "comment": "Checked copy, list and sender."})
        _say("   Rui approves it.")

        _say("\n5. Sending through the sandbox (delivery callbacks come back signed)")
        await call("POST", f"/v1/campaigns/{campaign['id']}/launch", keys["marketer"])
        phones = _phones(audience)
        validator = RequestValidator(TOKEN)
        stopped = 0
        started = time.monotonic()
        paused_at = None
        progress = Progress()
        while time.monotonic() - started < 120:
            state = await call("GET", f"/v1/campaigns/{campaign['id']}", keys["ops"])
            counts = state["counts"]
            progress.show(f"   sent {_bar(counts['sent'], counts['audience'])}  delivered {counts['delivered']}"
                          f"  opt-outs {counts['opt_outs']}  [{state['state']}]")
            if state["state"] == "paused":
                paused_at = state
                break
            if state["state"] == "completed":
                break
            if counts["delivered"] >= audience // 5 and stopped < wave:
                # 6. The oops: a wave of customers replies STOP, all at once (spread over the ticks
                # of this loop, a slow machine could finish sending before the guard had seen enough).
                for phone in phones[stopped:wave]:
                    url = f"{base}/webhooks/twilio/inbound"
                    params = {"MessageSid": f"SMdemo{stopped:026d}", "From": phone, "To": SHORT_CODE,
                              "Body": "STOP", "AccountSid": "AC" + "0" * 32}
                    signature = validator.compute_signature(url, params)
                    await http.post("/webhooks/twilio/inbound", data=params, headers={"X-Twilio-Signature": signature})
                    stopped += 1
            await asyncio.sleep(0.25)
        progress.end()
        _say(f"\n6. {stopped} customers replied STOP")
        alerts = (await call("GET", "/v1/alerts", keys["ops"], params={"state": "open"}))["items"]
        if alerts:
            alert = alerts[0]
            metrics = alert["metrics"]
            _say(f"   ALERT {alert['kind']}: {metrics['opt_outs']} opt-outs of {metrics['delivered']} delivered "
                 f"({metrics['rate']:.1%}) against a normal {metrics['baseline_rate']:.2%} → action: {alert['action']}")
        final = paused_at or await call("GET", f"/v1/campaigns/{campaign['id']}", keys["ops"])
        counts = final["counts"]
        _say(f"\n7. Summary: campaign {final['state']}; {counts['sent']} sent, {counts['delivered']} delivered, "
             f"{counts['opt_outs']} opted out; {counts['queued']} people spared the message while ops look.")
        detail = await call("GET", f"/v1/subscribers/{(await _first_sub(http, lst, keys))}", keys["ops"])
        _say("   The first subscriber's consent history: "
             + ", ".join(f"{e['kind']} via {e['channel']}" for e in detail["consent_history"]))
        answered = await _inbox_scene(http, call, keys, admin_key, phones[wave + 2], validator, base)
        return 0 if final["state"] == "paused" and answered else 1


async def _inbox_scene(http, call, keys: dict, admin_key: str, phone: str, validator, base: str) -> bool:
    """8. A customer answers the campaign: the reply lands in the company inbox, an agent answers from
    the company's number, a personal reply waits for a reviewer, and when the agent leaves the
    conversation moves to a colleague."""
    _say("\n8. A customer replies — to the company, not to anyone's phone")
    agents = {}
    for name in ("Ana Agent", "Ben Agent"):
        user = await call("POST", "/v1/users", admin_key, json={"email": f"{name.split()[0].lower()}@northwind.example",
                                                                "name": name, "roles": ["agent"]})
        agents[name.split()[0]] = user
    await call("PUT", "/v1/me/availability", agents["Ana"]["api_key"], json={"available": True})
    params = {"MessageSid": "SMdemoinbox" + "0" * 21, "From": phone, "To": SHORT_CODE,
              "Body": "Do you have the parka in navy, size M?", "AccountSid": "AC" + "0" * 32, "NumMedia": "0"}
    await http.post("/webhooks/twilio/inbound", data=params,
                    headers={"X-Twilio-Signature": validator.compute_signature(f"{base}/webhooks/twilio/inbound",
                                                                               params)})
    ana = agents["Ana"]["api_key"]
    conversation = (await call("GET", "/v1/conversations", ana, params={"assignee": "me"}))["items"][0]
    _say(f"   {phone}: \"{params['Body']}\" → a conversation with short code {SHORT_CODE}, routed to Ana")
    reply = await call("POST", f"/v1/conversations/{conversation['id']}/messages", ana,
                       json={"body": "Hi! Yes, navy in M is in stock. Shall we hold one for you at the store?"})
    _say(f"   Ana answers from the company's number: {reply['state']} (provider SID {reply['provider_sid'][:10]}…)")
    held = await http.post(f"/v1/conversations/{conversation['id']}/messages", headers={"Authorization": f"Bearer {ana}"},
                           json={"body": "Easier if you text me on my cell, 917-555-0142 :)"})
    findings = "; ".join(f["code"] for f in held.json()["findings"])
    _say(f"   Ana tries a personal reply: {held.status_code}, {held.json()['state']} for review ({findings})")
    rejected = await call("POST", f"/v1/replies/{held.json()['id']}/reject", keys["reviewer"],
                          json={"comment": "Keep customers on the company number."})
    _say(f"   Rui rejects it: {rejected['state']} — \"{rejected['review_comment']}\"")
    handed = await call("POST", f"/v1/users/{agents['Ana']['id']}/offboard", admin_key, json={
        "successor_id": agents["Ben"]["id"],
        "handover_text": f"{BRAND}: Ana has moved on; Ben will look after you from now on."})
    moved = handed["handed_back"]["conversations"]
    _say(f"   Ana leaves: her key stops working; {len(moved)} conversation(s) now Ben's, history kept; "
         f"handover text {handed['handed_back']['handover_texts'][0]['state']}")
    thread = await call("GET", f"/v1/conversations/{conversation['id']}", agents["Ben"]["api_key"])
    _say("   Ben sees the whole thread: " + ", ".join(m["kind"] if m["kind"] != "reply" else f"reply ({m['reply']['state']})"
                                                  for m in thread["messages"]))
    return thread["assignee_id"] == agents["Ben"]["id"] and held.status_code == 202


async def _first_sub(http: httpx.AsyncClient, lst: dict, keys: dict) -> str:
    response = await http.get(f"/v1/lists/{lst['id']}/export", headers={"Authorization": f"Bearer {keys['ops']}"})
    return next(csv.DictReader(io.StringIO(response.text)))["subscriber_id"]


async def _run(audience: int, wave: int, workdir: Path) -> int:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    os.environ.update({
        "FINELINE_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'demo.db'}",
        "FINELINE_PROVIDER": "sandbox", "FINELINE_WORKER": "inline", "FINELINE_QUIET_HOURS": "off",
        "FINELINE_PUBLIC_BASE_URL": base, "FINELINE_TWILIO_AUTH_TOKEN": TOKEN,
        "FINELINE_SANDBOX_OWNED_NUMBERS": f"+15005550006,{SHORT_CODE}", "FINELINE_BRAND_NAME": BRAND,
        "FINELINE_SANDBOX_CALLBACK_DELAY": "0.3", "FINELINE_SANDBOX_FAILURE_SHARE": "0.02",
    })
    from app.config import Settings
    from app.db import Database, migrations
    from app.main import create_app
    from app.users import service as users

    settings = Settings(_env_file=None)
    logging.getLogger("app.providers.sandbox").setLevel(logging.ERROR)  # callbacks in flight at shutdown
    await asyncio.to_thread(migrations.upgrade, settings.database_url)
    db = Database.from_url(settings.database_url)
    async with db.unit_of_work() as session:
        _, _, admin_key = await users.create_user(session, email="admin@northwind.example", name="Ada Admin",
                                                  roles=["admin"], actor=None)
    await db.dispose()
    _say(f"Fineline demo — {BRAND}, a server on {base} (SQLite, sandbox provider)\n")
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for this
        await asyncio.sleep(0.05)
    try:
        return await _story(base, admin_key, audience, wave)
    finally:
        server.should_exit = True
        await task


def run(audience: int = 300, wave: int = 12) -> int:
    with tempfile.TemporaryDirectory(prefix="fineline-demo-") as workdir:
        return asyncio.run(_run(audience, wave, Path(workdir)))
