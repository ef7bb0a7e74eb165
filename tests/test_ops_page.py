"""The ops page in a real browser: headless Chromium (Debian's package) driven by Playwright.

It signs in with an ops key, watches a campaign launched through the API, and — while a wave of
signed STOP replies arrives — sees the alert appear and the campaign marked paused without a reload.
"""

from __future__ import annotations

import csv
import io
import shutil
import time
from pathlib import Path

import httpx
import pytest
from twilio.request_validator import RequestValidator

from tests.live_server import first_admin, free_port, sandbox_environment, serving

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TOKEN = "ops-page-token"
ARTIFACTS = Path(__file__).resolve().parents[1] / "build"


@pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")
def test_ops_page_shows_the_alert_and_the_pause_live(tmp_path):
    from playwright.sync_api import sync_playwright

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = sandbox_environment(f"sqlite+aiosqlite:///{tmp_path / 'ops.db'}", base, TOKEN, "+15005550006,24680")
    admin_key = first_admin(env)
    with serving(env, port), httpx.Client(base_url=base, timeout=30) as http:
        _run(http, base, admin_key, sync_playwright)


def _run(http, base, admin_key, sync_playwright):
    def post(path, key, headers=None, **kwargs):
        response = http.post(path, headers={"Authorization": f"Bearer {key}", **(headers or {})}, **kwargs)
        assert response.status_code < 300, response.text
        return response.json()

    keys = {role: post("/v1/users", admin_key, json={"email": f"{role}@example.com", "name": role.title(),
                                                     "roles": [role]})["api_key"]
            for role in ("marketer", "reviewer", "ops")}
    sender = post("/v1/senders", admin_key, json={"kind": "short_code", "address": "24680", "label": "Short code",
                                                  "mps": 5})
    post(f"/v1/senders/{sender['id']}/verify", admin_key)
    lst = post("/v1/lists", keys["marketer"], json={"name": "VIP", "opt_in": "single", "sender_id": sender["id"]})
    phones = [f"+1212555{3000 + i:04d}" for i in range(120)]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["phone", "first_name", "consent_source", "consent_evidence", "consented_at"])
    writer.writerows([p, "Ana", "web_form", "https://example.com/join", "2026-10-01"] for p in phones)
    post(f"/v1/lists/{lst['id']}/imports", keys["marketer"], content=out.getvalue(), headers={"content-type": "text/csv"})

    console_errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: console_errors.append(str(exc)))

        page.goto(f"{base}/ops")
        page.fill("#api-key", keys["marketer"])  # another role: refused, and no controls drawn
        page.click("#login-form button")
        page.wait_for_selector("text=This page needs an API key of the ops role")
        assert page.locator("button:has-text('Acknowledge')").count() == 0
        assert keys["marketer"] not in page.url

        page.fill("#api-key", keys["ops"])
        page.click("#login-form button")
        page.wait_for_selector("#dashboard:not([hidden])")
        page.wait_for_selector("#stream-state.live")
        assert keys["ops"] not in page.url

        campaign = post("/v1/campaigns", keys["marketer"], json={
            "name": "Winter sale", "sender_id": sender["id"], "list_ids": [lst["id"]],
            "body": "Fineline Demo Co: winter sale, 30% off today. Reply STOP to opt out."})
        post(f"/v1/campaigns/{campaign['id']}/submit", keys["marketer"])
        post(f"/v1/campaigns/{campaign['id']}/review", keys["reviewer"], json={"decision": "approve", "comment": "ok"})
        post(f"/v1/campaigns/{campaign['id']}/launch", keys["marketer"])
        page.wait_for_selector(f"[data-campaign-id='{campaign['id']}'][data-state='sending']", timeout=15000)

        # wait until some messages were delivered, then the STOP wave
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            counts = http.get(f"/v1/campaigns/{campaign['id']}",
                              headers={"Authorization": f"Bearer {keys['ops']}"}).json()["counts"]
            if counts["delivered"] >= 20:
                break
            time.sleep(0.3)
        delivered = http.get(f"/v1/campaigns/{campaign['id']}/messages", params={"state": "delivered", "limit": 8},
                             headers={"Authorization": f"Bearer {keys['ops']}"}).json()["items"]
        validator = RequestValidator(TOKEN)
        for index, phone in enumerate(m["to"] for m in delivered):
            params = {"MessageSid": f"SMops{index:029d}", "From": phone, "To": "24680", "Body": "STOP"}
            signature = validator.compute_signature(f"{base}/webhooks/twilio/inbound", params)
            response = http.post("/webhooks/twilio/inbound", data=params, headers={"X-Twilio-Signature": signature})
            assert response.status_code == 200

        try:
            alert = page.wait_for_selector("[data-kind='unsubscribe_spike']", timeout=15000)
        except Exception:
            print("campaign:", http.get(f"/v1/campaigns/{campaign['id']}", headers={"Authorization": f"Bearer {keys['ops']}"}).text[:900])
            print("API alerts:", http.get("/v1/alerts", headers={"Authorization": f"Bearer {keys['ops']}"}).text[:600])
            print("stream pill:", page.inner_text("#stream-state"), "errors:", console_errors)
            print("alerts html:", page.inner_html("#alerts")[:500])
            raise
        assert "paused" in alert.inner_text()
        page.wait_for_selector(f"[data-campaign-id='{campaign['id']}'][data-state='paused']", timeout=15000)
        page.wait_for_selector("button:has-text('Resume campaign')", timeout=10000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "ops-page.png"), full_page=True)
        browser.close()
    assert console_errors == []
