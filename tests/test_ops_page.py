"""The ops page in a real browser: headless Chromium (Debian's package) driven by Playwright.

It signs in with an ops key, watches a campaign launched through the API, and — while a wave of
signed STOP replies arrives — sees the alert appear and the campaign marked paused without a reload.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import time
from datetime import datetime
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

    # A missing browser fails this test, never skips it: scripts/test installs Debian's chromium.
    assert os.access(CHROMIUM, os.X_OK), (
        f"no chromium at {CHROMIUM}: run the tests with scripts/test, which installs it, or as root: "
        "apt-get install chromium")

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

    def launch(name, list_id, body):
        campaign = post("/v1/campaigns", keys["marketer"], json={"name": name, "sender_id": sender["id"],
                                                                 "list_ids": [list_id], "body": body})
        post(f"/v1/campaigns/{campaign['id']}/submit", keys["marketer"])
        post(f"/v1/campaigns/{campaign['id']}/review", keys["reviewer"], json={"decision": "approve", "comment": "ok"})
        post(f"/v1/campaigns/{campaign['id']}/launch", keys["marketer"])
        return campaign

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

        campaign = launch("Winter sale", lst["id"], "Fineline Demo Co: winter sale, 30% off today. Reply STOP to opt out.")
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
        _figures_agree(page, http, keys["ops"], campaign["id"], alert)
        _report_is_drawn(page, http, keys["ops"], campaign["id"], f"[data-campaign-id='{campaign['id']}'] ")

        # A finished campaign: a small one to three other people completes, and its report is drawn too.
        small = post("/v1/lists", keys["marketer"], json={"name": "Few", "opt_in": "single", "sender_id": sender["id"]})
        for phone in ("+12125559001", "+12125559002", "+12125559003"):
            post(f"/v1/lists/{small['id']}/subscribers", keys["marketer"], json={
                "phone": phone, "consent": {"source": "web_form", "evidence": "https://example.com/join",
                                            "consented_at": "2026-10-01T00:00:00Z"}})
        done = launch("Thank you", small["id"], "Fineline Demo Co: thanks for shopping with us. Reply STOP to opt out.")
        page.wait_for_selector(f"#finished [data-campaign-id='{done['id']}'][data-state='completed']", timeout=30000)
        _report_is_drawn(page, http, keys["ops"], done["id"], "#finished ")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "ops-page.png"), full_page=True)
        browser.close()
    assert console_errors == []


def _report_is_drawn(page, http, ops_key, campaign_id, where):
    """The report of a paused or finished campaign: its figures are the API's, its timeline an SVG
    with a line per series and a point per minute from the first active minute to the last."""
    headers = {"Authorization": f"Bearer {ops_key}"}
    before = http.get(f"/v1/campaigns/{campaign_id}/report", headers=headers).json()
    page.click(f"{where}[data-report-for='{campaign_id}']")
    card = page.wait_for_selector(f"#report [data-report-id='{campaign_id}']", timeout=10000)
    after = http.get(f"/v1/campaigns/{campaign_id}/report", headers=headers).json()
    for name in ("audience", "sent", "delivered", "failed", "skipped", "opt_outs"):
        shown = int(card.query_selector(f"[data-metric='{name}'] b").inner_text())
        assert before[name] <= shown <= after[name], name  # late delivery callbacks only add
    assert card.query_selector("[data-metric='clicks'] b").inner_text() == str(after["clicks"]["unique_human"])
    spans = set()
    for report in (before, after):
        minutes = [int(datetime.fromisoformat(p["minute"]).timestamp()) // 60 for p in report["timeline"]["points"]]
        spans.add(minutes[-1] - minutes[0] + 1)
    series = {line.get_attribute("data-series"): line.get_attribute("points").split()
              for line in card.query_selector_all("svg.timeline polyline")}
    assert set(series) == {"sent", "delivered", "failed", "opt_outs"}
    assert len(series["sent"]) in spans and len({len(p) for p in series.values()}) == 1
    assert len({point.split(",")[1] for point in series["sent"]}) > 1 or len(series["sent"]) == 1  # not a flat line


def _number(text: str) -> float:
    return float(text.strip().lstrip("≥ ").rstrip("%"))


def _figures_agree(page, http, ops_key, campaign_id, alert):
    """The alert's figures are labelled as the guard's decision, the card's as now; each is the
    API's own number, and they agree with each other (later opt-outs only add to the count)."""
    headers = {"Authorization": f"Bearer {ops_key}"}
    [api_alert] = http.get("/v1/alerts", params={"state": "open"}, headers=headers).json()["items"]
    decision = api_alert["metrics"]
    card = f"[data-campaign-id='{campaign_id}']"
    now_opt_outs = f"{card} [data-when='now'] [data-metric='opt_outs']"
    # Delivery callbacks still in flight move the counts after the pause: wait until the page
    # (polled every 1.5 s) shows what the API says now.
    deadline = time.monotonic() + 20
    while True:
        counts = http.get(f"/v1/campaigns/{campaign_id}", headers=headers).json()["counts"]
        guard = http.get(f"/v1/alerts/guard/{campaign_id}", headers=headers).json()
        judged = max(counts["delivered"], counts["opt_outs"])
        now_text = page.inner_text(now_opt_outs)
        caption = page.inner_text(f"{card} figcaption [data-metric='threshold']")
        if (now_text.startswith(f"opt-outs {counts['opt_outs']} of {judged} delivered (")
                and caption.endswith(f" of {guard['delivered']} delivered")) or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    at_decision = alert.query_selector("[data-when='decision']")
    assert "at the decision" in at_decision.inner_text()
    shown = {name: at_decision.query_selector(f"[data-metric='{name}']").inner_text()
             for name in ("opt_outs", "rate", "baseline_rate", "rate_bar", "threshold")}
    assert shown["opt_outs"] == f"opt-outs {decision['opt_outs']} of {decision['delivered']} delivered"
    assert shown["threshold"] == f"fires at ≥ {decision['threshold']} opt-outs"
    values = {name: _number(at_decision.query_selector(f"[data-metric='{name}'] b").inner_text())
              for name in shown}
    assert values["rate"] == pytest.approx(100 * decision["opt_outs"] / decision["delivered"], abs=0.006)
    assert values["threshold"] <= decision["opt_outs"]  # it fired, so it reached the count that fires

    now = page.query_selector(f"{card} [data-when='now']")
    assert now.inner_text().startswith("now:")
    assert now_text.startswith(f"opt-outs {counts['opt_outs']} of {judged} delivered (")
    assert _number(now_text.split("(")[1].rstrip(")")) == pytest.approx(100 * counts["opt_out_rate"], abs=0.006)
    assert counts["opt_out_rate"] == pytest.approx(counts["opt_outs"] / judged)
    # Consistent: the counts now include the decision's, and the STOPs after it.
    assert decision["opt_outs"] <= counts["opt_outs"] and decision["delivered"] <= judged

    # The rate bar is one number (a rate) in the alert and on the chart; "fires at" is a count.
    caption = page.query_selector(f"{card} figcaption")
    assert caption.query_selector("[data-metric='rate_bar'] b").inner_text() == \
        at_decision.query_selector("[data-metric='rate_bar'] b").inner_text()
    assert _number(caption.query_selector("[data-metric='rate_bar'] b").inner_text()) == \
        pytest.approx(100 * guard["rate_bar"], abs=0.006)
    assert caption.query_selector("[data-metric='threshold']").inner_text() == \
        f"fires at ≥ {guard['threshold']} opt-outs of {guard['delivered']} delivered"
    # The pause reason carries the decision's numbers too, said once and as the guard's.
    reason = page.inner_text(f"{card} .reason")
    assert reason.startswith("why paused: the unsubscribe-spike guard fired at "
                             f"{decision['opt_outs']} opt-outs of {decision['delivered']} delivered"), reason
    assert "spike: spike:" not in page.inner_text("body")
