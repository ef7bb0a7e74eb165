"""The inbox page in a real browser: headless Chromium (Debian's package) driven by Playwright.

An agent signs in and becomes available; a customer's text arrives and appears live; the agent answers
from the company number; a personal reply shows its findings before sending and is held; a reviewer
sees it held and approves it; a new text arrives live in the open thread.
"""

from __future__ import annotations

import httpx
import pytest
from twilio.request_validator import RequestValidator

from tests.live_server import first_admin, free_port, sandbox_environment, serving
from tests.test_ops_page import ARTIFACTS, CHROMIUM

TOKEN = "inbox-page-token"
CUSTOMER = "+14155552671"


@pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")
def test_inbox_page_answers_a_customer_holds_a_personal_reply_and_shows_new_texts_live(tmp_path):
    from playwright.sync_api import sync_playwright

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = sandbox_environment(f"sqlite+aiosqlite:///{tmp_path / 'inbox.db'}", base, TOKEN, "+15005550006")
    admin_key = first_admin(env)
    with serving(env, port), httpx.Client(base_url=base, timeout=30) as http:
        _run(http, base, admin_key, sync_playwright)


def _run(http, base, admin_key, sync_playwright):
    def post(path, key, **kwargs):
        response = http.post(path, headers={"Authorization": f"Bearer {key}"}, **kwargs)
        assert response.status_code < 300, response.text
        return response.json()

    def customer_says(sid, body):
        params = {"MessageSid": sid, "AccountSid": "AC" + "0" * 32, "From": CUSTOMER, "To": "+15005550006",
                  "Body": body, "NumMedia": "0"}
        signature = RequestValidator(TOKEN).compute_signature(f"{base}/webhooks/twilio/inbound", params)
        assert http.post("/webhooks/twilio/inbound", data=params,
                         headers={"X-Twilio-Signature": signature}).status_code == 200

    keys = {role: post("/v1/users", admin_key, json={"email": f"{role}@example.com", "name": role.title(),
                                                     "roles": [role]})["api_key"]
            for role in ("agent", "reviewer")}
    sender = post("/v1/senders", admin_key, json={"kind": "long_code", "address": "+15005550006", "label": "Main"})
    post(f"/v1/senders/{sender['id']}/verify", admin_key)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            agent = browser.new_page()
            agent.goto(f"{base}/inbox")
            agent.fill("#api-key", keys["agent"])
            agent.click("#login-form button")
            agent.wait_for_selector("#stream-state.live")
            agent.check("#availability")
            agent.wait_for_timeout(300)

            customer_says("SM" + "1" * 32, "Do you have the jacket in blue?")
            agent.wait_for_selector("#conversations li[data-conversation-id]", timeout=5000)  # live, routed to her
            agent.click("#conversations li[data-conversation-id]")
            agent.wait_for_selector("#thread li.inbound >> text=Do you have the jacket in blue?")

            agent.fill("#reply-body", "Yes, in every size. Shall we hold one for you?")
            agent.wait_for_selector("#checks .ok")
            agent.click("#reply-form button")
            agent.wait_for_selector("#thread li.reply[data-state=sent], #thread li.reply[data-state=delivered]")

            agent.fill("#reply-body", "Text me on my cell 415-555-0199, it's easier")
            agent.wait_for_selector("#checks .finding >> text=wait for a reviewer")  # shown before sending
            agent.click("#reply-form button")
            agent.wait_for_selector("#thread li.reply[data-state=held]")

            customer_says("SM" + "2" * 32, "Great, I'll come by at 5")
            agent.wait_for_selector("#thread li.inbound >> text=I'll come by at 5", timeout=5000)  # live

            reviewer = browser.new_page()
            reviewer.goto(f"{base}/inbox")
            reviewer.fill("#api-key", keys["reviewer"])
            reviewer.click("#login-form button")
            reviewer.wait_for_selector("#held li[data-reply-id] >> text=Text me on my cell")
            reviewer.click("#held li[data-reply-id] button.primary")
            reviewer.wait_for_selector("#held li.empty")
            agent.wait_for_selector("#thread li.reply[data-state=sent], #thread li.reply[data-state=delivered]"
                                    " >> text=Text me on my cell", timeout=5000)
            ARTIFACTS.mkdir(exist_ok=True)
            agent.screenshot(path=str(ARTIFACTS / "inbox-page.png"), full_page=True)
        finally:
            browser.close()
