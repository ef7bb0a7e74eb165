"""Issue 21 items 4–10: the holes a security review found, each shown closed through the real API."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, update

from app import models
from app.db.base import utcnow
from app.models import AuditEvent, IdempotencyRecord, Message, OutboundText, StatusCallback
from app.ops.idempotency import purge_expired
from tests.conftest import OWNED
from tests.dispatch_world import build
from tests.factories import make_user, verified_test_number
from tests.test_campaigns import create, setup, to_approved  # noqa: F401 - setup is a fixture (below)
from tests.twilio_signing import signed_post


@pytest.fixture
def world(setup):  # noqa: F811 - requests the imported fixture
    """A verified company sender and a single opt-in list with two subscribers (tests/test_campaigns.py)."""
    return setup


# --- item 9: one Authorization header; idempotency records expire ----------------------------------


async def test_two_authorization_headers_are_refused_before_any_route(client, admin, marketer):
    headers = [("Authorization", f"Bearer {marketer.key}"), ("Authorization", f"Bearer {admin.key}"),
               ("Idempotency-Key", "dup-1")]
    response = await client.post("/v1/lists", json={"name": "VIP", "opt_in": "single"}, headers=headers)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "duplicate_header" and "Authorization" in error["message"]
    assert (await client.get("/v1/me", headers=headers[:2])).status_code == 400
    lists = (await client.get("/v1/lists", headers=marketer.headers)).json()["items"]
    assert lists == []  # nothing was created under either key


async def test_an_expired_idempotency_record_is_not_replayed_and_is_purged(client, marketer, session):
    headers = {**marketer.headers, "Idempotency-Key": "list-1"}
    first = await client.post("/v1/lists", json={"name": "VIP", "opt_in": "single"}, headers=headers)
    assert first.status_code == 201
    replay = await client.post("/v1/lists", json={"name": "VIP", "opt_in": "single"}, headers=headers)
    assert replay.json()["id"] == first.json()["id"]
    await session.execute(update(IdempotencyRecord).values(created_at=utcnow() - timedelta(hours=25)))
    await session.commit()
    # A day later the key is free again: a different body is a new request, not "key reused".
    later = await client.post("/v1/lists", json={"name": "Other", "opt_in": "single"}, headers=headers)
    assert later.status_code == 201 and later.json()["id"] != first.json()["id"]
    await client.post("/v1/lists", json={"name": "Third", "opt_in": "single"},
                      headers={**marketer.headers, "Idempotency-Key": "list-2"})
    await session.execute(update(IdempotencyRecord).where(IdempotencyRecord.key != "")
                          .values(created_at=utcnow() - timedelta(hours=30)))
    assert await purge_expired(session, before=utcnow() - timedelta(hours=24)) == 2
    assert await session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0


# --- item 7: only the owner launches, pauses, resumes or cancels (ops too for pause and cancel) ------


async def test_another_marketer_cannot_launch_pause_resume_or_cancel(client, marketer, reviewer, ops, db,
                                                                     world):
    async with db.unit_of_work() as session:
        rival = await make_user(session, roles=["marketer"])
    campaign = await to_approved(client, marketer, reviewer, world)
    path = f"/v1/campaigns/{campaign['id']}"
    for action in ("launch", "cancel"):
        refused = await client.post(f"{path}/{action}", headers=rival.headers)
        assert refused.status_code == 403, (action, refused.text)
        assert "owner" in refused.json()["error"]["message"]
    assert (await client.post(f"{path}/launch", headers=marketer.headers)).json()["state"] == "sending"
    assert (await client.post(f"{path}/pause", headers=rival.headers)).status_code == 403
    assert (await client.post(f"{path}/pause", headers=ops.headers)).json()["state"] == "paused"
    assert (await client.post(f"{path}/resume", headers=rival.headers)).status_code == 403
    assert (await client.post(f"{path}/resume", headers=marketer.headers)).json()["state"] == "sending"
    assert (await client.post(f"{path}/pause", headers=marketer.headers)).json()["state"] == "paused"
    assert (await client.post(f"{path}/cancel", headers=rival.headers)).status_code == 403
    assert (await client.get(path, headers=marketer.headers)).json()["state"] == "paused"
    assert (await client.post(f"{path}/cancel", headers=ops.headers)).json()["state"] == "cancelled"



# --- item 8: Twilio-shaped parameter names only; a queued send is never attached by a callback -----


async def test_a_callback_replayed_onto_a_shorter_message_id_is_refused(client, session):
    from twilio.request_validator import RequestValidator

    from tests.twilio_signing import PUBLIC

    sid = "SM" + "c" * 32
    genuine = {"MessageSid": sid, "MessageStatus": "delivered", "SmsSid": sid}
    signature = RequestValidator("test-auth-token").compute_signature(
        PUBLIC + "/webhooks/twilio/status?m=1234", genuine)
    # The same signing string: "…?m=12" + "34MessageSid" + sid + … (no separators anywhere).
    forged = {"34MessageSid": sid, "MessageStatus": "delivered", "SmsSid": sid}
    assert RequestValidator("test-auth-token").validate(PUBLIC + "/webhooks/twilio/status?m=12", forged, signature)
    response = await client.post("/webhooks/twilio/status?m=12", data=forged, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "bad_parameter_name" and "34MessageSid" in error["message"]
    assert await session.scalar(select(func.count()).select_from(StatusCallback)) == 0
    inbound_form = {"MessageSid": sid, "From": "+14155552671", "Body": "YES", "from": "+19999999999"}
    sneaky = await signed_post(client, "/webhooks/twilio/inbound", inbound_form)
    assert sneaky.status_code == 400 and "'from'" in sneaky.json()["error"]["message"]


async def test_a_status_callback_never_marks_a_queued_message_sent(client, admin, marketer, reviewer, session):
    world = await build(client, admin, marketer, reviewer, phones=["+14155552671"])
    [queued] = (await session.scalars(select(Message).where(Message.campaign_id == world["campaign"]["id"]))).all()
    assert queued.state == "queued"
    response = await signed_post(client, f"/webhooks/twilio/status?m={queued.id}",
                                 {"MessageSid": "SM" + "d" * 32, "MessageStatus": "sent"})
    assert response.status_code == 204  # genuine, stored, but proves nothing about this queued message
    await session.refresh(queued)
    assert (queued.state, queued.provider_sid) == ("queued", None)


# --- item 6: an empty auth token is a missing one; no silent fallback outside the embedded default --


def test_an_empty_token_is_no_token_and_unsafe_settings_refuse_to_start():
    from app.config import Settings

    embedded = Settings(_env_file=None, twilio_auth_token="", twilio_account_sid="", provider="")
    assert embedded.twilio_auth_token is None and embedded.auth_token != "" and len(embedded.auth_token) > 20
    assert embedded.provider_name == "sandbox" and embedded.startup_problem() is None
    postgres = "postgresql+asyncpg://fineline@db:5432/fineline"
    implicit = Settings(_env_file=None, database_url=postgres, twilio_auth_token="")
    assert "FINELINE_PROVIDER is not set" in implicit.startup_problem()
    no_token = Settings(_env_file=None, database_url=postgres, provider="sandbox", twilio_auth_token=" ")
    assert "FINELINE_TWILIO_AUTH_TOKEN is not set" in no_token.startup_problem()
    twilio = {"provider": "twilio", "twilio_account_sid": "AC" + "1" * 32, "twilio_auth_token": "t0ken"}
    for loopback in ("http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000", "http://0.0.0.0"):
        refused = Settings(_env_file=None, database_url=postgres, public_base_url=loopback, **twilio)
        assert "loopback" in refused.startup_problem(), loopback
    public = Settings(_env_file=None, database_url=postgres, public_base_url="https://sms.acme.example", **twilio)
    assert public.startup_problem() is None
    local_twilio = Settings(_env_file=None, database_url=postgres, public_base_url="http://127.0.0.1:8000",
                            twilio_api_base="http://127.0.0.1:9000", **twilio)  # the benchmarks' fake Twilio
    assert local_twilio.startup_problem() is None
    trial = Settings(_env_file=None, database_url=postgres, provider="sandbox", twilio_auth_token="shared-secret")
    assert trial.startup_problem() is None


def test_fineline_serve_and_worker_refuse_an_empty_token_outside_the_embedded_default():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("FINELINE_")}
    env.update(FINELINE_DATABASE_URL="postgresql+asyncpg://fineline@127.0.0.1:1/fineline", FINELINE_PROVIDER="sandbox",
               FINELINE_TWILIO_AUTH_TOKEN="", FINELINE_TWILIO_ACCOUNT_SID="")
    for command in ("serve", "worker"):
        result = subprocess.run([sys.executable, "-m", "app.cli", command], env=env, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "FINELINE_TWILIO_AUTH_TOKEN is not set (or empty)" in result.stderr


async def test_a_webhook_signed_with_the_empty_token_is_refused(db, database_url):
    import httpx

    from app.config import Settings
    from app.main import create_app
    from app.providers import build_provider

    settings = Settings(_env_file=None, database_url=database_url, worker="off", public_base_url="https://fineline.test",
                        twilio_auth_token="")
    app = create_app(settings, database=db, provider=build_provider(settings))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fineline.test") as client:
        for path, params in (("/webhooks/twilio/inbound", {"MessageSid": "SM" + "e" * 32, "From": "+14155552671",
                                                           "Body": "START"}),
                             ("/webhooks/twilio/status", {"MessageSid": "SM" + "e" * 32, "MessageStatus": "delivered"})):
            forged = await signed_post(client, path, params, token="")
            assert forged.status_code == 403, forged.text
    assert await _count(db, StatusCallback) == 0


async def _count(db, model) -> int:
    async with db.session() as session:
        return await session.scalar(select(func.count()).select_from(model))


# --- item 10: no framing of /ops; /docs without a CDN; /metrics protected; one key revocable ------


async def test_ops_page_and_docs_cannot_be_framed_and_docs_load_nothing_from_elsewhere(client):
    ops = await client.get("/ops")
    assert "frame-ancestors 'none'" in ops.headers["content-security-policy"]
    assert ops.headers["x-frame-options"] == "DENY"
    for path in ("/docs", "/redoc"):
        page = await client.get(path)
        assert page.status_code == 200
        csp = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp.split(
            "script-src")[1].split(";")[0]
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sources and all(source.startswith("/") for source in sources), sources
        for source in sources:
            if source.startswith("/docs/assets/"):
                asset = await client.get(source)
                assert asset.status_code == 200 and len(asset.content) > 1000, source
    assert (await client.get("/docs/assets/..%2Fcore.py")).status_code == 404


async def test_metrics_answer_loopback_only_unless_a_token_is_set(app, settings):
    import httpx

    async def scrape(host: str, **headers):
        transport = httpx.ASGITransport(app=app, client=(host, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://fineline.test") as http:
            return await http.get("/metrics", headers=headers)

    assert (await scrape("127.0.0.1")).status_code == 200
    remote = await scrape("203.0.113.9")
    assert remote.status_code == 403 and "FINELINE_METRICS_TOKEN" in remote.json()["error"]["message"]
    app.state.settings = settings.model_copy(update={"metrics_token": SecretStr("scrape-me")})
    assert (await scrape("203.0.113.9")).status_code == 401
    assert (await scrape("127.0.0.1", Authorization="Bearer wrong")).status_code == 401
    scraped = await scrape("203.0.113.9", Authorization="Bearer scrape-me")
    assert scraped.status_code == 200 and "fineline_http_requests_total" in scraped.text


async def test_one_api_key_is_revoked_without_offboarding_its_owner(client, admin, marketer, ops, session):
    second = (await client.post(f"/v1/users/{marketer.id}/api-keys", headers=admin.headers)).json()
    listed = (await client.get(f"/v1/users/{marketer.id}/api-keys", headers=marketer.headers)).json()
    assert [k["id"] for k in listed] == sorted(k["id"] for k in listed) and len(listed) == 2
    assert all("api_key" not in k and k["revoked_at"] is None for k in listed)
    assert (await client.get(f"/v1/users/{marketer.id}/api-keys", headers=ops.headers)).status_code == 403
    assert (await client.delete(f"/v1/users/{marketer.id}/api-keys/{second['id']}",
                                headers=ops.headers)).status_code == 403
    revoked = await client.delete(f"/v1/users/{marketer.id}/api-keys/{second['id']}", headers=marketer.headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert (await client.get("/v1/me", headers={"Authorization": f"Bearer {second['api_key']}"})).status_code == 401
    me = await client.get("/v1/me", headers=marketer.headers)
    assert me.status_code == 200 and me.json()["active"] is True  # the other key and the user live on
    again = await client.delete(f"/v1/users/{marketer.id}/api-keys/{second['id']}", headers=admin.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_revoked"
    assert (await client.delete(f"/v1/users/{marketer.id}/api-keys/key_nope", headers=admin.headers)).status_code == 404
    [event] = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "api_key.revoked"))).all()
    assert (event.actor_id, event.target_id, event.details["key_id"]) == (marketer.id, marketer.id, second["id"])


# --- item 4: test numbers prove themselves; owner or reviewer test-sends, rate-limited --------------


async def test_a_test_number_receives_test_sends_only_after_its_code_comes_back(client, marketer, world, provider,
                                                                                 session):
    campaign = await create(client, marketer, world)
    phone = "+14155550199"
    added = await client.post("/v1/me/test-numbers", json={"phone": phone}, headers=marketer.headers)
    assert added.status_code == 201 and added.json()["verified_at"] is None
    [text] = provider.sent
    assert (text.to, text.from_) == (phone, OWNED[0])  # through the gate, from the verified company sender
    code = re.search(r"code is (\d{6})", text.body).group(1)
    number = await session.get(models.TestNumber, added.json()["id"])
    assert number.code_hash and code not in number.code_hash
    unproven = await client.post(f"/v1/campaigns/{campaign['id']}/test-send", json={"to": [phone]},
                                 headers=marketer.headers)
    assert unproven.status_code == 422 and unproven.json()["error"]["code"] == "not_a_test_number"
    verify = f"/v1/me/test-numbers/{added.json()['id']}/verify"
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1, 0):
        answer = await client.post(verify, json={"code": wrong}, headers=marketer.headers)
        assert answer.status_code == 422 and f"{left} attempt(s) left" in answer.json()["error"]["message"]
    spent = await client.post(verify, json={"code": code}, headers=marketer.headers)
    assert spent.status_code == 409 and spent.json()["error"]["code"] == "code_attempts_exhausted"
    too_soon = await client.post("/v1/me/test-numbers", json={"phone": phone}, headers=marketer.headers)
    assert too_soon.status_code == 429 and len(provider.sent) == 1
    await session.execute(update(models.TestNumber).values(code_sent_at=utcnow() - timedelta(minutes=2)))
    await session.commit()
    assert (await client.post("/v1/me/test-numbers", json={"phone": phone}, headers=marketer.headers)).status_code == 201
    fresh = re.search(r"code is (\d{6})", provider.sent[-1].body).group(1)
    assert (await client.post(verify, json={"code": fresh}, headers=marketer.headers)).json()["verified_at"]
    sent = await client.post(f"/v1/campaigns/{campaign['id']}/test-send", json={"to": [phone]},
                             headers=marketer.headers)
    assert sent.status_code == 200 and provider.sent[-1].body.startswith("[TEST] ")


async def test_a_code_expires_and_an_employee_holds_a_capped_number_of_test_numbers(client, marketer, world,
                                                                                    provider, session, settings):
    first = (await client.post("/v1/me/test-numbers", json={"phone": "+14155550100"}, headers=marketer.headers)).json()
    code = re.search(r"code is (\d{6})", provider.sent[-1].body).group(1)
    await session.execute(update(models.TestNumber).values(
        code_sent_at=utcnow() - timedelta(seconds=settings.test_code_ttl_seconds + 1)))
    await session.commit()
    late = await client.post(f"/v1/me/test-numbers/{first['id']}/verify", json={"code": code}, headers=marketer.headers)
    assert late.status_code == 409 and late.json()["error"]["code"] == "code_expired"
    for index in range(1, settings.test_numbers_per_user):
        added = await client.post("/v1/me/test-numbers", json={"phone": f"+1415555{index + 100:04d}"},
                                  headers=marketer.headers)
        assert added.status_code == 201, added.text
    over = await client.post("/v1/me/test-numbers", json={"phone": "+14155550999"}, headers=marketer.headers)
    assert over.status_code == 409 and over.json()["error"]["code"] == "test_number_limit"
    assert (await client.delete(f"/v1/me/test-numbers/{first['id']}", headers=marketer.headers)).status_code == 204
    assert (await client.post("/v1/me/test-numbers", json={"phone": "+14155550999"},
                              headers=marketer.headers)).status_code == 201


async def test_only_the_owner_or_a_reviewer_test_sends_and_at_a_limited_rate(client, app, settings, marketer,
                                                                             reviewer, db, world, provider):
    async with db.unit_of_work() as s:
        rival = await make_user(s, roles=["marketer"])
    campaign = await create(client, marketer, world)
    path = f"/v1/campaigns/{campaign['id']}/test-send"
    for actor, phone in ((marketer, "+14155550101"), (rival, "+14155550102"), (reviewer, "+14155550103")):
        await verified_test_number(client, actor, phone, provider)
    refused = await client.post(path, json={"to": ["+14155550102"]}, headers=rival.headers)
    assert refused.status_code == 403 and "owner" in refused.json()["error"]["message"]
    assert (await client.post(path, json={"to": ["+14155550103"]}, headers=reviewer.headers)).status_code == 200
    app.state.settings = settings.model_copy(update={"test_sends_per_hour": 3})
    for _ in range(3):
        assert (await client.post(path, json={"to": ["+14155550101"]}, headers=marketer.headers)).status_code == 200
    limited = await client.post(path, json={"to": ["+14155550101"]}, headers=marketer.headers)
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "test_send_rate"
    assert sum(1 for m in provider.sent if m.body.startswith("[TEST] ")) == 4


# --- item 4: a double opt-in list's own confirmation text is reviewed like a campaign body ----------


async def test_a_custom_confirmation_text_is_checked_and_approved_by_another_before_anyone_is_added(
        client, admin, marketer, reviewer, db, session):
    async with db.unit_of_work() as s:
        author = await make_user(s, roles=["marketer", "reviewer"])
    sender = (await client.post("/v1/senders", json={"kind": "long_code", "address": OWNED[0], "label": "Main"},
                                headers=admin.headers)).json()
    await client.post(f"/v1/senders/{sender['id']}/verify", headers=admin.headers)

    async def double_list(text: str) -> dict:
        made = await client.post("/v1/lists", json={"name": "VIP", "opt_in": "double", "sender_id": sender["id"],
                                                    "confirmation_text": text}, headers=author.headers)
        assert made.status_code == 201, made.text
        return made.json()

    shady = await double_list("Fineline Demo Co: reply YES for deals at bit.ly/x1, STOP to cancel")
    consent = {"source": "web_form", "evidence": "https://acme.example/join", "consented_at": "2026-10-01T12:00:00Z"}
    add = await client.post(f"/v1/lists/{shady['id']}/subscribers", json={"phone": "+14155552671", "consent": consent},
                            headers=author.headers)
    assert add.status_code == 409 and add.json()["error"]["code"] == "confirmation_not_approved"
    imported = await client.post(f"/v1/lists/{shady['id']}/imports", headers={**author.headers,
                                 "content-type": "text/csv"},
                                 content=b"phone,consent_source,consent_evidence,consented_at\n"
                                         b"+14155552672,web_form,https://acme.example/join,2026-10-01T12:00:00Z\n")
    assert imported.status_code == 409 and imported.json()["error"]["code"] == "confirmation_not_approved"
    assert await session.scalar(select(func.count()).select_from(OutboundText)) == 0
    check = (await client.post(f"/v1/lists/{shady['id']}/confirmation/check", headers=author.headers)).json()
    assert check["blocking"] and "url_shortener" in {f["code"] for f in check["findings"]}
    blocked = await client.post(f"/v1/lists/{shady['id']}/confirmation/review",
                                json={"decision": "approve", "comment": "fine"}, headers=reviewer.headers)
    assert blocked.status_code == 409 and blocked.json()["error"]["code"] == "blocking_findings"

    clean_text = "Fineline Demo Co: Reply YES to confirm VIP texts. Msg & data rates may apply. STOP to cancel."
    clean = await double_list(clean_text)
    own = await client.post(f"/v1/lists/{clean['id']}/confirmation/review",
                            json={"decision": "approve", "comment": "mine"}, headers=author.headers)
    assert own.status_code == 403 and "author" in own.json()["error"]["message"]
    approved = await client.post(f"/v1/lists/{clean['id']}/confirmation/review",
                                 json={"decision": "approve", "comment": "ok"}, headers=reviewer.headers)
    assert approved.status_code == 200 and approved.json()["approved_by_id"] == reviewer.id
    listed = (await client.get(f"/v1/lists/{clean['id']}", headers=author.headers)).json()
    assert listed["confirmation_approved_by_id"] == reviewer.id
    added = await client.post(f"/v1/lists/{clean['id']}/subscribers",
                              json={"phone": "+14155552671", "consent": consent}, headers=author.headers)
    assert added.status_code == 201 and added.json()["subscription"]["state"] == "pending"
    assert (await session.scalars(select(OutboundText.body))).all() == [clean_text]
    decisions = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "list.confirmation_reviewed"))).all()
    assert [(e.target_id, e.details["decision"]) for e in decisions] == [(clean["id"], "approve")]
