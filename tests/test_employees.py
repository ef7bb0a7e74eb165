"""Employees, API keys, roles and offboarding through the HTTP API."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import ApiKey, AuditEvent


async def test_admin_creates_user_and_key_is_shown_once_and_stored_hashed(client, admin, session):
    response = await client.post(
        "/v1/users",
        json={"email": "Mia@Example.com", "name": "Mia", "roles": ["marketer", "reviewer"]},
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == "mia@example.com"
    assert body["roles"] == ["marketer", "reviewer"]
    key = body["api_key"]
    assert key.startswith("fl_")

    stored = (await session.scalars(select(ApiKey).where(ApiKey.user_id == body["id"]))).all()
    assert len(stored) == 1
    assert key not in (stored[0].key_hash, stored[0].prefix)
    assert key.startswith(stored[0].prefix)

    fetched = await client.get(f"/v1/users/{body['id']}", headers=admin.headers)
    assert "api_key" not in fetched.json()

    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200
    assert me.json()["id"] == body["id"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer fl_deadbeef_not-a-real-key"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
        {"Authorization": "fl_abc"},
    ],
    ids=["missing", "unknown", "basic", "empty", "no-scheme"],
)
async def test_missing_or_bad_key_is_401(client, headers):
    response = await client.get("/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/v1/users"),
        ("get", "/v1/users"),
        ("get", "/v1/users/usr_x"),
        ("post", "/v1/users/usr_x/api-keys"),
        ("post", "/v1/users/usr_x/offboard"),
        ("get", "/v1/audit"),
    ],
)
async def test_marketer_gets_403_on_admin_routes(client, marketer, method, path):
    kwargs = {"json": {"email": "x@example.com", "name": "X", "roles": ["ops"]}} if method == "post" else {}
    response = await getattr(client, method)(path, headers=marketer.headers, **kwargs)
    assert response.status_code == 403
    assert "admin" in response.json()["error"]["message"]


async def test_offboarded_users_keys_fail_on_the_next_request(client, admin, marketer):
    second = await client.post(f"/v1/users/{marketer.id}/api-keys", headers=admin.headers)
    assert second.status_code == 201
    second_key = second.json()["api_key"]
    for key in (marketer.key, second_key):
        assert (await client.get("/v1/me", headers={"Authorization": f"Bearer {key}"})).status_code == 200

    response = await client.post(f"/v1/users/{marketer.id}/offboard", headers=admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["revoked_keys"] == 2
    assert body["user"]["active"] is False
    assert body["handed_back"] == {"senders": [], "campaigns": [], "conversations": [], "handover_texts": []}

    for key in (marketer.key, second_key):
        assert (await client.get("/v1/me", headers={"Authorization": f"Bearer {key}"})).status_code == 401

    again = await client.post(f"/v1/users/{marketer.id}/offboard", headers=admin.headers)
    assert again.status_code == 409
    new_key = await client.post(f"/v1/users/{marketer.id}/api-keys", headers=admin.headers)
    assert new_key.status_code == 409


async def test_duplicate_email_is_409(client, admin):
    payload = {"email": "dup@example.com", "name": "Dup", "roles": ["ops"]}
    assert (await client.post("/v1/users", json=payload, headers=admin.headers)).status_code == 201
    response = await client.post("/v1/users", json={**payload, "email": "DUP@example.com"}, headers=admin.headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "email_taken"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not-an-email", "name": "A", "roles": ["ops"]}, "email"),
        ({"email": "a@example.com", "name": "A", "roles": ["boss"]}, "roles.0"),
        ({"email": "a@example.com", "name": "A", "roles": []}, "roles"),
        ({"email": "a@example.com", "name": "   ", "roles": ["ops"]}, "name"),
        ({"email": "a@example.com", "name": 5, "roles": ["ops"]}, "name"),
        ({"email": "a@example.com", "roles": ["ops"]}, "name"),
        ({"email": "a@example.com", "name": "A", "roles": "ops"}, "roles"),
        ({"email": "a@example.com", "name": "A", "roles": ["ops"], "extra": 1}, "extra"),
    ],
)
async def test_bad_user_input_is_422_naming_the_field(client, admin, payload, field):
    response = await client.post("/v1/users", json=payload, headers=admin.headers)
    assert response.status_code == 422
    error = response.json()["error"]
    assert field in [detail["field"] for detail in error["details"]]


async def test_users_list_is_paginated(client, admin):
    for i in range(3):
        payload = {"email": f"p{i}@example.com", "name": f"P{i}", "roles": ["ops"]}
        assert (await client.post("/v1/users", json=payload, headers=admin.headers)).status_code == 201
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/users", params=params, headers=admin.headers)).json()
        seen += [item["email"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["admin@example.com", "p0@example.com", "p1@example.com", "p2@example.com"]


async def test_audit_log_records_and_filters(client, admin, session):
    created = (await client.post("/v1/users", json={"email": "o@example.com", "name": "O", "roles": ["ops"]},
                                 headers=admin.headers)).json()
    await client.post(f"/v1/users/{created['id']}/api-keys", headers=admin.headers)
    await client.post(f"/v1/users/{created['id']}/offboard", headers=admin.headers)

    response = await client.get("/v1/audit", params={"target_id": created["id"]}, headers=admin.headers)
    assert response.status_code == 200
    actions = [item["action"] for item in response.json()["items"]]
    assert actions == ["user.offboarded", "api_key.issued", "api_key.issued", "user.created"]
    assert all(item["actor_id"] == admin.id for item in response.json()["items"])

    only = await client.get("/v1/audit", params={"action": "user.offboarded", "limit": 1}, headers=admin.headers)
    assert [item["target_id"] for item in only.json()["items"]] == [created["id"]]

    naive = await client.get("/v1/audit", params={"since": "2026-01-01T00:00:00"}, headers=admin.headers)
    assert naive.status_code == 422


async def test_audit_log_is_append_only_in_the_database(db):
    from sqlalchemy import delete, update
    from sqlalchemy.exc import DBAPIError

    from app.audit.service import record

    async with db.unit_of_work() as session:
        record(session, "test.event", actor=None, target_type="test", target_id="t1")
    for statement in (update(AuditEvent).values(action="tampered"), delete(AuditEvent)):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.unit_of_work() as session:
                await session.execute(statement)
