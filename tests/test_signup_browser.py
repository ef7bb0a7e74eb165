"""The sign-up form in a real browser: headless Chromium (Debian's package) driven by Playwright.

A customer opens /join/{slug}, sees the disclosure beside an unchecked box, signs up; nothing is
subscribed until they reply Y over a signed webhook; then the subscription is active and the evidence
pack holds the form's proof (IP, the browser's user agent, the page, the disclosure version).
"""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from twilio.request_validator import RequestValidator

from tests.live_server import first_admin, free_port, sandbox_environment, serving
from tests.test_ops_page import ARTIFACTS, CHROMIUM

TOKEN = "signup-page-token"
CUSTOMER = "+14155552671"


@pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")
def test_a_customer_signs_up_in_a_browser_replies_y_and_is_subscribed(tmp_path):
    from playwright.sync_api import sync_playwright

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = sandbox_environment(f"sqlite+aiosqlite:///{tmp_path / 'signup.db'}", base, TOKEN, "+15005550006")
    admin_key = first_admin(env)
    with serving(env, port), httpx.Client(base_url=base, timeout=30) as http:
        _run(http, base, admin_key, sync_playwright)


def _run(http, base, admin_key, sync_playwright):
    def call(method, path, key, **kwargs):
        response = http.request(method, path, headers={"Authorization": f"Bearer {key}"}, **kwargs)
        assert response.status_code < 300, response.text
        return response

    keys = {role: call("POST", "/v1/users", admin_key, json={"email": f"{role}@example.com", "name": role.title(),
                                                             "roles": [role]}).json()["api_key"]
            for role in ("marketer", "reviewer")}
    sender = call("POST", "/v1/senders", admin_key, json={"kind": "long_code", "address": "+15005550006",
                                                          "label": "Main"}).json()
    call("POST", f"/v1/senders/{sender['id']}/verify", admin_key)
    lst = call("POST", "/v1/lists", keys["marketer"], json={
        "name": "Deals", "opt_in": "double", "sender_id": sender["id"], "slug": "deals", "keywords": ["JOIN"],
        "brand": "Acme Shoes", "purpose": "weekly shoe deals", "frequency": "Up to 4 msgs/month",
        "terms_url": "https://acme.example/terms", "privacy_url": "https://acme.example/privacy"}).json()
    call("POST", f"/v1/lists/{lst['id']}/confirmation/review", keys["reviewer"],
         json={"decision": "approve", "comment": "disclosures complete"})

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            blocked: list[str] = []
            page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
            page.goto(f"{base}/join/deals")
            assert not page.is_checked("#consent")
            assert "Consent is not a condition of purchase" in page.inner_text("#disclosure")
            page.fill("#phone", "(415) 555-2671")
            page.click("#signup button")  # the box unticked: refused, and the number not kept in the page
            page.wait_for_selector(".error >> text=tick the box")
            assert page.input_value("#phone") == ""
            page.fill("#phone", "(415) 555-2671")
            page.check("#consent")
            page.click("#signup button")
            page.wait_for_selector("#message >> text=Reply Y")
            assert not blocked, blocked  # the inline style is allowed by its hash, nothing else is loaded
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "signup-page.png"), full_page=True)
        finally:
            browser.close()

    listed = call("GET", f"/v1/lists/{lst['id']}", keys["marketer"]).json()
    assert listed["counts"] == {"pending": 1, "subscribed": 0, "unsubscribed": 0}  # the form alone subscribes nobody

    params = {"MessageSid": "SM" + "1" * 32, "AccountSid": "AC" + "0" * 32, "From": CUSTOMER,
              "To": "+15005550006", "Body": "Y", "NumMedia": "0"}
    signature = RequestValidator(TOKEN).compute_signature(f"{base}/webhooks/twilio/inbound", params)
    reply = http.post("/webhooks/twilio/inbound", data=params, headers={"X-Twilio-Signature": signature})
    assert reply.status_code == 200 and "subscribed" in reply.text

    listed = call("GET", f"/v1/lists/{lst['id']}", keys["marketer"]).json()
    assert listed["counts"] == {"pending": 0, "subscribed": 1, "unsubscribed": 0}
    rows = list(csv.DictReader(io.StringIO(call("GET", f"/v1/lists/{lst['id']}/export", keys["marketer"]).text)))
    form = next(row for row in rows if row["channel"] == "web_form")
    assert form["phone"] == "'" + CUSTOMER and form["subscription_state"] == "subscribed"
    assert form["ip"] == "127.0.0.1" and "Chrome" in form["user_agent"]
    assert form["page_url"] == f"{base}/join/deals" and len(form["disclosure_id"]) == 64
    disclosure = call("GET", f"/v1/disclosures/{form['disclosure_id']}", keys["marketer"]).json()
    assert "Acme Shoes" in disclosure["text"] and "Consent is not a condition of purchase" in disclosure["text"]
    assert [row["event"] for row in rows] == ["opt_in", "confirm"]
