"""Hostile input (docs/design.md, invariant 9, and "no 500s, ever"): the whole API fuzzed from its OpenAPI
document, thousands of forged webhooks, poisoned CSV imports, and every role knocking on every other
role's doors."""

from __future__ import annotations

import asyncio
import concurrent.futures
import csv
import inspect
import io
import json
import random
import re
from collections import Counter

import httpx
import pytest
import schemathesis
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import func, select
from sqlalchemy.pool import NullPool
from twilio.request_validator import RequestValidator

from app.config import Settings
from app.db import Database, migrations
from app.main import create_app
from app.models import (
    Alert,
    ConsentEvent,
    Conversation,
    InboundMessage,
    Message,
    Reply,
    Segment,
    StatusCallback,
    Subscriber,
    Subscription,
    Suppression,
)
from app.providers.sandbox import SandboxProvider
from app.vocab.roles import Role
from tests.conftest import OWNED
from tests.dispatch_world import CONSENT, build
from tests.factories import CountedBody, make_user
from tests.twilio_signing import PUBLIC

ROLES = tuple(Role)


def _in_thread(coro):
    """Run a coroutine on its own loop, away from pytest-asyncio's."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


# --------------------------------------------------------------------------------------------------
# 1. schemathesis over the whole OpenAPI document
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def fuzz_target(scratch_database_url):
    """An app on a committed database (schemathesis drives it from its own event loop, so: no pool
    shared across loops) and an API key holding every role, so every route is exercised."""
    migrations.upgrade(scratch_database_url)
    settings = Settings(database_url=scratch_database_url, provider="sandbox", worker="off", quiet_hours="off",
                        public_base_url=PUBLIC, twilio_auth_token="test-auth-token",
                        twilio_account_sid="AC" + "1" * 32, _env_file=None)
    db = Database.from_url(scratch_database_url, poolclass=NullPool)

    async def seed() -> str:
        async with db.unit_of_work() as session:
            return (await make_user(session, roles=list(ROLES), email="fuzz@example.com")).key

    key = _in_thread(seed())
    provider = SandboxProvider(OWNED, account_sid=settings.account_sid, auth_token=settings.auth_token,
                               callbacks=False)
    app = create_app(settings, database=db, provider=provider)
    yield app, key
    _in_thread(db.dispose())


FUZZ_EXAMPLES = 20
#: The alert stream is an endless server-sent-events response: it cannot be fuzzed request/response.
NOT_FUZZED = {"/v1/alerts/stream"}


def test_openapi_fuzz_no_5xx_and_schema_conformance(fuzz_target):
    """Every operation of the OpenAPI document, FUZZ_EXAMPLES generated requests each (plus the
    document's examples): never a 5xx, and every documented response matches its schema.

    Driven through ``operation.as_strategy()`` rather than ``schemathesis.pytest.from_fixture``,
    whose lazy loader reads ``request.node._nodeid``, gone in pytest 9.
    """
    app, key = fuzz_target
    headers = {"Authorization": f"Bearer {key}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: dict[str, str] = {}
    statuses: Counter[int] = Counter()
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in NOT_FUZZED:
            continue
        operations += 1

        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
                             phases=[Phase.explicit, Phase.generate, Phase.shrink],
                             suppress_health_check=list(HealthCheck))
        def run(case):
            response = case.call(headers=headers)
            statuses[response.status_code] += 1
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance],
                                   headers=headers)

        try:
            run()
        except Exception as exc:  # collect them all: one report for the whole document
            failures[f"{operation.method.upper()} {operation.path}"] = str(exc)[:1500]
    assert operations >= 30
    # The key works and generated requests get past validation: routes really ran.
    assert sum(n for code, n in statuses.items() if code < 300) >= 20, statuses
    assert not failures, "\n\n".join(f"{op}:\n{text}" for op, text in failures.items())


# --------------------------------------------------------------------------------------------------
# 2. Forged and malformed webhooks
# --------------------------------------------------------------------------------------------------

WEBHOOKS = ("/webhooks/twilio/inbound", "/webhooks/twilio/status")


def _params(rng: random.Random) -> dict[str, str]:
    sid = "SM" + "".join(rng.choice("0123456789abcdef") for _ in range(32))
    params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "1" * 32, "From": "+14155552671",
              "To": OWNED[0], "Body": rng.choice(["STOP", "START", "HELP", "YES", "stop all", "hi"]),
              "MessageStatus": rng.choice(["sent", "delivered", "failed", "undelivered"]), "NumMedia": "0"}
    if rng.random() < 0.2:
        params[rng.choice(list(params))] = rng.choice(["x" * 20_000, "\x00", "☃" * 500, "", "' OR 1=1 --"])
    return params


def _forgery(rng: random.Random, path: str) -> tuple[str, dict[str, str], bytes | None, dict | None]:
    """(path, headers, raw body or None, form params or None): never a genuine signed request."""
    params = _params(rng)
    good = RequestValidator("test-auth-token").compute_signature(PUBLIC + path, params)
    kind = rng.randrange(13)
    headers: dict[str, str] = {}
    if kind == 0:  # no signature at all
        return path, headers, None, params
    if kind == 1:  # signed with another account's token
        headers["X-Twilio-Signature"] = RequestValidator("attacker-token").compute_signature(PUBLIC + path, params)
        return path, headers, None, params
    if kind == 2:  # a genuine signature, replayed over tampered parameters
        headers["X-Twilio-Signature"] = good
        tampered = dict(params, From="+1415555" + str(rng.randrange(1000, 9999)))
        return path, headers, None, tampered
    if kind == 3:  # signed for the other webhook
        other = WEBHOOKS[1] if path == WEBHOOKS[0] else WEBHOOKS[0]
        headers["X-Twilio-Signature"] = RequestValidator("test-auth-token").compute_signature(PUBLIC + other, params)
        return path, headers, None, params
    if kind == 4:  # signed for another host (the signature covers the public URL, not our Host header)
        headers["X-Twilio-Signature"] = RequestValidator("test-auth-token").compute_signature(
            "https://evil.example" + path, params)
        return path, headers, None, params
    if kind == 5:  # the signature is garbage
        headers["X-Twilio-Signature"] = rng.choice([" ", "x", "=" * 40, "\u2603".encode(), b"\xff\x00",
                                                    good[:-2], good.lower(), good + "=", "A" * 10_000])
        return path, headers, None, params
    if kind == 6:  # JSON instead of a form, with a signature of the form
        headers.update({"X-Twilio-Signature": good, "Content-Type": "application/json"})
        return path, headers, json.dumps(params).encode(), None
    if kind == 7:  # random bytes, any content type
        headers.update({"X-Twilio-Signature": good, "Content-Type": rng.choice(
            ["application/x-www-form-urlencoded", "text/plain", "application/octet-stream", "multipart/form-data",
             "multipart/form-data; boundary=zz", "application/xml", ""])})
        return path, headers, rng.randbytes(rng.randrange(0, 2000)), None
    if kind == 8:  # a form with invalid percent-encoding and UTF-8
        headers.update({"X-Twilio-Signature": good, "Content-Type": "application/x-www-form-urlencoded"})
        return path, headers, b"Body=%ZZ%&From=%ff%fe&" + rng.randbytes(64), None
    if kind == 9:  # a huge field (beyond the body limit sometimes)
        headers["X-Twilio-Signature"] = good
        return path, headers, None, dict(params, Body="A" * rng.choice([10_000, 200_000, 1_100_000]))
    if kind == 10:  # a signature for an extra query string the request does not carry, or the reverse
        headers["X-Twilio-Signature"] = RequestValidator("test-auth-token").compute_signature(
            PUBLIC + path + "?m=424242", params)
        return path, headers, None, params
    if kind == 11:  # a multipart body with a file part
        headers["X-Twilio-Signature"] = good
        boundary = "fuzz" + str(rng.randrange(10**6))
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"Body\"; filename=\"x.txt\"\r\n"
                f"Content-Type: text/plain\r\n\r\nSTOP\r\n--{boundary}--\r\n").encode()
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        return path, headers, body, None
    # kind 12: duplicated keys and parameter pollution, signed over the first values only
    headers.update({"X-Twilio-Signature": good, "Content-Type": "application/x-www-form-urlencoded"})
    from urllib.parse import urlencode

    body = urlencode(list(params.items()) + [("From", "+19999999999"), ("Body", "STOP")]).encode()
    return path, headers, body, None


async def _stored(session) -> dict[str, int]:
    counts = {}
    for model in (InboundMessage, StatusCallback, ConsentEvent, Suppression, Subscriber):
        counts[model.__tablename__] = await session.scalar(select(func.count()).select_from(model))
    return counts


async def test_ten_thousand_forged_webhooks_are_refused_and_store_nothing(client, session):
    rng = random.Random(20261123)
    before = await _stored(session)
    statuses: dict[int, int] = {}
    for i in range(10_000):
        path, headers, raw, form = _forgery(rng, WEBHOOKS[i % 2])
        if rng.random() < 0.1:
            path += rng.choice(["?m=1", "?m=abc", "?m=" + "9" * 30, "?m=%00"])
        if raw is not None:
            response = await client.post(path, content=raw, headers=headers)
        else:
            response = await client.post(path, data=form, headers=headers)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert 400 <= response.status_code < 500, (i, path, headers, raw[:200] if raw else form, response.text)
    assert statuses.get(403, 0) > 8_000, statuses
    session.expire_all()
    assert await _stored(session) == before


# --------------------------------------------------------------------------------------------------
# 3. Poisoned CSV imports
# --------------------------------------------------------------------------------------------------

HEADER = "phone,first_name,consent_source,consent_evidence,consented_at\n"
WHEN = "2026-10-01T12:00:00Z"
FORMULAS = ["=cmd|' /C calc'!A0", "+SUM(1+1)*cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)",
            "=HYPERLINK(\"http://evil.example\",\"x\")", "\t=1+1", "\r=1+1"]
SQLISH = ["Robert'); DROP TABLE subscriber;--", "' OR '1'='1", "1; DELETE FROM consent_event WHERE 1=1; --",
          "\"; UPDATE api_key SET revoked_at=NULL; --", "%' AND 1=0 UNION SELECT * FROM api_key --"]


async def _list(client, admin, marketer) -> str:
    sender = (await client.post("/v1/senders", json={"kind": "long_code", "address": OWNED[0], "label": "Main"},
                                headers=admin.headers)).json()
    await client.post(f"/v1/senders/{sender['id']}/verify", headers=admin.headers)
    lst = await client.post("/v1/lists", json={"name": "L", "opt_in": "single", "sender_id": sender["id"]},
                            headers=marketer.headers)
    assert lst.status_code == 201, lst.text
    return lst.json()["id"]


def _csv(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # \r\n rows: a field holding \r or \n is quoted
    writer.writerow(HEADER.strip().split(","))
    writer.writerows(rows)
    return buffer.getvalue()


async def _import(client, marketer, list_id: str, body: bytes | str, content_type: str = "text/csv"):
    return await client.post(f"/v1/lists/{list_id}/imports", content=body,
                             headers={**marketer.headers, "Content-Type": content_type})


async def test_csv_with_broken_encodings_and_huge_fields_never_500s(client, admin, marketer):
    list_id = await _list(client, admin, marketer)
    good = f"+14155550100,Ana,web_form,https://acme.example/join,{WHEN}\n"
    bodies = {
        "latin-1": (HEADER + "+14155550101,Jos\xe9,web_form,https://acme.example/join," + WHEN + "\n").encode("latin-1"),
        "invalid utf-8": HEADER.encode() + b"+14155550102,\xff\xfe\xc3\x28,web_form,x," + WHEN.encode() + b"\n",
        "utf-16": (HEADER + good).encode("utf-16"),
        "utf-8 BOM": b"\xef\xbb\xbf" + (HEADER + good).encode(),
        "NUL bytes": HEADER.encode() + b"+14155550103,A\x00na,web_form,x\x00y," + WHEN.encode() + b"\n",
        "lone CR / unterminated quote": (HEADER + "+14155550104,\"Ana\r,web_form,x," + WHEN + "\n").encode(),
        "huge first_name": (HEADER + f"+14155550105,{'A' * 50_000},web_form,x,{WHEN}\n").encode(),
        "huge evidence": (HEADER + f"+14155550106,Ana,web_form,{'e' * 500_000},{WHEN}\n").encode(),
        "huge field beyond csv limit": (HEADER + f"+14155550107,{'B' * 2_000_000},web_form,x,{WHEN}\n").encode(),
        "huge phone": (HEADER + f"{'9' * 5000},Ana,web_form,x,{WHEN}\n").encode(),
        "10k columns": (HEADER.strip() + "," + ",".join(f"c{i}" for i in range(10_000)) + "\n" + good).encode(),
        "only a header": HEADER.encode(),
        "empty": b"",
        "binary": random.Random(1).randbytes(4096),
        "bad dates": (HEADER + "+14155550108,Ana,web_form,x,not-a-date\n+14155550109,Ana,web_form,x,99999-01-01\n"
                      "+14155550110,Ana,web_form,x,1970-01-01T00:00:00+99:00\n").encode(),
        "bad source": (HEADER + f"+14155550111,Ana,<script>,x,{WHEN}\n").encode(),
    }
    for name, body in bodies.items():
        response = await _import(client, marketer, list_id, body)
        assert response.status_code < 500, (name, response.status_code, response.text[:500])
        if response.status_code == 200:
            report = response.json()
            assert report["accepted"] + report["rejected_count"] >= 0, (name, report)
    # Wrong content types are refused, not guessed.
    for content_type in ("application/xml", "text/plain", "application/octet-stream", "image/png"):
        response = await _import(client, marketer, list_id, good, content_type)
        assert 400 <= response.status_code < 500, (content_type, response.text)
    for name, body in {"not json": b"{[", "json scalar": b"42", "json nulls": b"[null, 1, \"x\", []]",
                       "nested": json.dumps([{"phone": {"a": [1]}, "consent_source": ["web_form"]}]).encode(),
                       "deep": b"[" * 5000 + b"]" * 5000}.items():
        response = await _import(client, marketer, list_id, body, "application/json")
        assert response.status_code < 500, (name, response.status_code, response.text[:500])
    export = await client.get(f"/v1/lists/{list_id}/export", headers=marketer.headers)
    assert export.status_code == 200


async def test_formula_cells_are_defused_in_the_evidence_export(client, admin, marketer):
    list_id = await _list(client, admin, marketer)
    rows = [[f"+1415555{200 + i:04d}", formula, "web_form", formula, WHEN] for i, formula in enumerate(FORMULAS)]
    imported = await _import(client, marketer, list_id, _csv(rows))
    assert imported.status_code == 200, imported.text
    assert imported.json()["accepted"] == len(FORMULAS), imported.json()["rejected"]
    export = await client.get(f"/v1/lists/{list_id}/export", headers=marketer.headers)
    assert export.status_code == 200
    cells = [cell for row in csv.reader(io.StringIO(export.text)) for cell in row]
    dangerous = [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert not dangerous, dangerous
    for formula in FORMULAS:
        stripped = formula.strip() if formula.strip() != formula else formula
        assert any(cell in ("'" + formula, "'" + stripped) for cell in cells), formula
    # The raw formula never appears as a cell of its own (quoted or not).
    assert not re.search(r"(^|,)\"?=cmd", export.text, re.MULTILINE)


async def test_sql_looking_values_are_stored_literally(client, admin, marketer, session):
    list_id = await _list(client, admin, marketer)
    rows = [[f"+1415555{300 + i:04d}", text, "web_form", text, WHEN] for i, text in enumerate(SQLISH)]
    imported = await _import(client, marketer, list_id, _csv(rows))
    assert imported.status_code == 200 and imported.json()["accepted"] == len(SQLISH), imported.text
    added = await client.post(f"/v1/lists/{list_id}/subscribers", json={
        "phone": "+14155550399", "first_name": SQLISH[0], "consent": dict(CONSENT, evidence=SQLISH[1])},
        headers=marketer.headers)
    assert added.status_code == 201, added.text
    session.expire_all()
    stored = {s.phone: s.first_name for s in (await session.scalars(select(Subscriber))).all()}
    for i, text in enumerate(SQLISH):
        assert stored[f"+1415555{300 + i:04d}"] == text
    assert stored["+14155550399"] == SQLISH[0]
    evidence = set((await session.scalars(select(ConsentEvent.evidence))).all())
    assert set(SQLISH) <= evidence
    # Every table the strings named is still there and whole.
    assert await session.scalar(select(func.count()).select_from(Subscription)) == len(SQLISH) + 1
    me = await client.get("/v1/me", headers=marketer.headers)
    assert me.status_code == 200
    lists = await client.get("/v1/lists", headers=marketer.headers)
    assert lists.status_code == 200 and lists.json()["items"][0]["id"] == list_id
    # Searching by them through query strings is harmless too.
    for text in SQLISH:
        response = await client.get("/v1/campaigns", params={"state": text, "cursor": text},
                                    headers=marketer.headers)
        assert response.status_code < 500, (text, response.text)


# --------------------------------------------------------------------------------------------------
# 4. Every role against every other role's routes
# --------------------------------------------------------------------------------------------------


def _api_routes(app) -> list[tuple[APIRoute, str]]:
    """Every API route with its full path (FastAPI >= 0.165 keeps included routers unflattened)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        return [(r, r.path) for r in app.routes if isinstance(r, APIRoute)]
    return [(rc.original_route, rc.path or rc.original_route.path) for rc in iter_route_contexts(app.routes)
            if isinstance(rc.original_route, APIRoute)]


def _role_requirements(route: APIRoute) -> list[set[str]]:
    """The role sets this route demands (all must be met), read from its ``require(...)`` dependencies."""
    found: list[set[str]] = []

    def walk(dependant) -> None:
        for dep in dependant.dependencies:
            call = dep.call
            if call is not None and getattr(call, "__qualname__", "") == "require.<locals>._check":
                found.append(set(inspect.getclosurevars(call).nonlocals["roles"]))
            walk(dep)

    walk(route.dependant)
    return found


def test_every_role_dependency_is_found():
    app = create_app(Settings(database_url="sqlite+aiosqlite://", worker="off", _env_file=None))
    guarded = [path for route, path in _api_routes(app) if _role_requirements(route)]
    assert len(guarded) >= 25, guarded


async def test_each_role_is_refused_on_every_other_roles_routes(app, client, admin, marketer, reviewer, ops, db):
    world = await build(client, admin, marketer, reviewer, launch=False)
    async with db.unit_of_work() as s:
        alert = Alert(kind="opt_out_spike", campaign_id=world["campaign"]["id"], action="none", message="probe")
        s.add(alert)
        await s.flush()
        alert_id = alert.id
        conversation = Conversation(sender_id=world["sender"]["id"], phone="+14155552671", state="open")
        s.add(conversation)
        await s.flush()
        reply = Reply(conversation_id=conversation.id, purpose="reply", author_id=admin.id, body="probe",
                      state="held", findings=[], attempts=0)
        s.add(reply)
        await s.flush()
        conversation_id, reply_id = conversation.id, reply.id
        agent = await make_user(s, roles=["agent"], email="agent@example.com")
        segment = Segment(name="probe", filter={"region": ["TX"]})
        s.add(segment)
        await s.flush()
        segment_id = segment.id
        message_count = await s.scalar(select(func.count()).select_from(Message))
    ids = {"sender_id": world["sender"]["id"], "list_id": world["list"]["id"],
           "campaign_id": world["campaign"]["id"], "subscriber_id": next(iter(world["subscribers"].values())),
           "user_id": marketer.id, "alert_id": alert_id, "conversation_id": conversation_id, "reply_id": reply_id,
           "segment_id": segment_id,
           "disclosure_id": "0" * 64}  # a role is refused before an id is looked up
    actors = {"admin": admin, "marketer": marketer, "reviewer": reviewer, "ops": ops, "agent": agent}
    probed = 0
    for route, path in _api_routes(app):
        requirements = _role_requirements(route)
        if not requirements:
            continue
        for name in re.findall(r"{(\w+)}", path):
            assert name in ids, f"no id to probe {path} with"
            path = path.replace("{" + name + "}", ids[name])
        for method in route.methods:
            for role, actor in actors.items():
                if all(role in allowed for allowed in requirements):
                    continue
                kwargs = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
                response = await client.request(method, path, headers=actor.headers, **kwargs)
                probed += 1
                assert response.status_code == 403, (role, method, path, response.status_code, response.text)
    assert probed >= 50
    async with db.session() as s:  # and nothing happened on the way
        assert await s.scalar(select(func.count()).select_from(Message)) == message_count


# --------------------------------------------------------------------------------------------------
# 5. Oversized bodies on every route of the OpenAPI document
# --------------------------------------------------------------------------------------------------


async def test_oversized_bodies_get_413_at_once_on_every_route_with_and_without_a_key(settings, db, provider):
    """Every operation of the OpenAPI document, with no key and with a key holding every role: a body
    declared one byte over the route's limit is refused with 413 before a byte is read; one streamed
    without a length is never read past the limit. Only ``POST /v1/lists/{list_id}/imports`` has the
    large limit, and only a good key with the marketer role gets the body read at all."""
    small, large = 1024, 8192
    app = create_app(settings.model_copy(update={"max_body_bytes": small, "max_import_bytes": large}),
                     database=db, provider=provider)
    async with db.unit_of_work() as session:
        key = (await make_user(session, roles=list(ROLES), email="everyone@example.com")).key
    operations = [(method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item
                  if method in ("get", "post", "put", "patch", "delete")]
    assert len(operations) >= 30
    transport = httpx.ASGITransport(app=app)
    probed = 0
    async with httpx.AsyncClient(transport=transport, base_url="http://fineline.test") as client:
        for method, template in operations:
            path = re.sub(r"{\w+}", "imports", template)  # the id an attacker picks: "/v1/campaigns/imports"
            is_import = (method, template) == ("POST", "/v1/lists/{list_id}/imports")
            limit = large if is_import else small
            for auth in ({}, {"Authorization": f"Bearer {key}"}):
                for content_type in ("application/json", "text/csv", "application/x-www-form-urlencoded"):
                    body = CountedBody(limit + 1, chunk=512, fill=b"[")
                    response = await client.request(method, path, content=body, headers={
                        **auth, "content-type": content_type, "content-length": str(limit + 1)})
                    assert response.status_code == 413, (method, template, auth, response.text)
                    assert response.json()["error"]["code"] == "payload_too_large"
                    assert body.pulled == 0, (method, template)
                    probed += 1
                    if method == "GET":  # a GET's body is never read: nothing more to stream at it
                        continue
                    body = CountedBody(limit * 4, chunk=512, fill=b"[")
                    response = await client.request(method, path, content=body,
                                                    headers={**auth, "content-type": content_type})
                    assert 400 <= response.status_code < 500, (method, template, auth, response.text)
                    assert body.pulled * body.chunk <= limit + body.chunk, (method, template, body.pulled)
                    if body.pulled * body.chunk > limit:
                        assert response.status_code == 413, (method, template, response.text)
            if is_import:  # a key without the marketer role (or none) never gets the body read at all
                for auth in ({}, {"Authorization": "Bearer fl_forged"}):
                    body = CountedBody(large, chunk=512)
                    response = await client.post(path, content=body, headers={**auth, "content-type": "text/csv"})
                    assert response.status_code == 401 and body.pulled == 0, response.text
    assert probed >= 180


# --------------------------------------------------------------------------------------------------
# 6. Attribute injection: text nobody reviewed, through placeholders
# --------------------------------------------------------------------------------------------------

INJECTIONS = [
    "Claim at bit.ly/x", "bit\u200b.ly/x", "Call me on 415 555 0199", "ana.smith@gmail.com", "Free beer tonight",
    "love you babe xx", "a\n" * 40, "\u202egnp.exe", " " * 1_000_000, "x" * 5000, "\x1b[31mred", "ok\x00nul",
    "{first_name}", "{{attributes.offer}}", "20% off today.\rSTOP", "=HYPERLINK(\"http://evil.example\")",
    "\ue000\ue001", "WINTER-8", "Free shipping.",
]


async def test_attribute_injection_never_reaches_a_recipient_unreviewed(client, admin, marketer, reviewer, db,
                                                                         provider, settings, session):
    """A campaign approved over benign values; then every hostile value is pushed into the audience
    through the API, a CSV import and an NDJSON import. Each is refused at the door, or stored and
    then held back at send time: every text that leaves is one the reviewer saw."""
    from app.campaigns.template import render
    from tests.dispatch_world import drain

    sender = (await client.post("/v1/senders", json={"kind": "long_code", "address": OWNED[0], "label": "Main",
                                                     "mps": 500}, headers=admin.headers)).json()
    await client.post(f"/v1/senders/{sender['id']}/verify", headers=admin.headers)
    list_id = (await client.post("/v1/lists", json={"name": "L", "opt_in": "single", "sender_id": sender["id"]},
                                 headers=marketer.headers)).json()["id"]
    body = "Fineline Demo Co: Hi {first_name|there}! {attributes.offer|New arrivals.} Reply STOP to opt out."
    for i, offer in enumerate(["20% off today.", "Free shipping."]):
        added = await client.post(f"/v1/lists/{list_id}/subscribers", json={
            "phone": f"+1415555{2100 + i:04d}", "first_name": "Ana", "attributes": {"offer": offer},
            "consent": CONSENT}, headers=marketer.headers)
        assert added.status_code == 201, added.text
    cid = (await client.post("/v1/campaigns", json={"name": "Fall", "sender_id": sender["id"], "list_ids": [list_id],
                                                    "body": body}, headers=marketer.headers)).json()["id"]
    check = (await client.post(f"/v1/campaigns/{cid}/check", headers=reviewer.headers)).json()
    shown = {variant["text"] for variant in check["variants"]}
    assert {f"Fineline Demo Co: Hi Ana! {offer} Reply STOP to opt out." for offer in
            ("20% off today.", "Free shipping.")} <= shown
    # What the reviewer approves: those values, or the body's own fallbacks where a value is missing.
    reviewed = {render(body, first_name=name, attributes={"offer": offer}) for name in ("Ana", None)
                for offer in ("20% off today.", "Free shipping.", None)}
    assert (await client.post(f"/v1/campaigns/{cid}/submit", headers=marketer.headers)).status_code == 200
    approved = await client.post(f"/v1/campaigns/{cid}/review", json={"decision": "approve", "comment": "ok"},
                                 headers=reviewer.headers)
    assert approved.status_code == 200, approved.text

    stored = refused = 0
    phone = iter(range(2200, 2900))
    for value in INJECTIONS:
        for field in ("offer", "first_name"):
            fields = {"attributes": {"offer": value}} if field == "offer" else {"first_name": value}
            response = await client.post(f"/v1/lists/{list_id}/subscribers", json={
                "phone": f"+1415555{next(phone):04d}", "consent": CONSENT, **fields}, headers=marketer.headers)
            assert response.status_code in (201, 413, 422), (value[:40], response.status_code, response.text[:300])
            stored, refused = stored + (response.status_code == 201), refused + (response.status_code != 201)
        if len(value) < 10_000:
            rows = [[f"+1415555{next(phone):04d}", "Ana", "web_form", "x", WHEN, value],
                    [f"+1415555{next(phone):04d}", value, "web_form", "x", WHEN, "Free shipping."]]
            buffer = io.StringIO()
            csv.writer(buffer).writerows([[*HEADER.strip().split(","), "offer"], *rows])
            report = await _import(client, marketer, list_id, buffer.getvalue())
            assert report.status_code == 200, report.text
            ndjson = json.dumps({"phone": f"+1415555{next(phone):04d}", "attributes": {"offer": value},
                                 "consent": CONSENT})
            report = await _import(client, marketer, list_id, ndjson, "application/x-ndjson")
            assert report.status_code == 200, report.text
    assert stored and refused  # both doors were tried: some values are refused, some stored and held back

    assert (await client.post(f"/v1/campaigns/{cid}/launch", headers=marketer.headers)).status_code == 200
    await drain(db, provider, settings)
    bodies = [message.body for message in provider.sent]
    assert bodies and set(bodies) <= reviewed, sorted(set(bodies) - reviewed)
    session.expire_all()
    skipped = (await session.scalars(select(Message.skip_reason).where(Message.campaign_id == cid,
                                                                       Message.state == "skipped"))).all()
    assert skipped and all("was not reviewed" in reason for reason in skipped)
