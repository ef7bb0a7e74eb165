"""Errors, limits and the operations endpoints."""

from __future__ import annotations


async def test_unknown_route_is_json_404(client):
    response = await client.get("/v1/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_wrong_method_is_json_405(client, admin):
    response = await client.delete("/v1/me", headers=admin.headers)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


async def test_malformed_json_is_422_invalid_json(client, admin):
    response = await client.post(
        "/v1/users", content=b'{"email": "a@b.co", "name": ', headers={**admin.headers, "content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_json"


async def test_non_object_json_is_422(client, admin):
    response = await client.post("/v1/users", json=[1, 2, 3], headers=admin.headers)
    assert response.status_code == 422


async def test_oversized_body_is_413(client, admin, settings):
    big = b'{"name": "' + b"x" * (settings.max_body_bytes + 10) + b'"}'
    response = await client.post("/v1/users", content=big, headers={**admin.headers, "content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_oversized_streamed_body_without_length_is_413(client, admin, settings):
    async def chunks():
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b"x" * 65536

    response = await client.post("/v1/users", content=chunks(), headers={**admin.headers, "content-type": "application/json"})
    assert response.status_code == 413


async def test_bad_pagination_params_are_422(client, admin):
    for params in ({"limit": 0}, {"limit": 100000}, {"limit": "many"}):
        response = await client.get("/v1/users", params=params, headers=admin.headers)
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "limit"


async def test_healthz_and_readyz(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["migrations"]["current"] == ready.json()["migrations"]["head"]


async def test_readyz_is_503_when_database_is_unreachable(settings):
    import httpx

    from app.db import Database
    from app.main import create_app

    broken = Database.from_url("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    app = create_app(settings, database=broken)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/readyz")
    await broken.dispose()
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


async def test_metrics_count_requests_by_route_template(client, admin):
    await client.get("/v1/users/usr_whatever", headers=admin.headers)
    text = (await client.get("/metrics")).text
    assert 'fineline_http_requests_total{method="GET",route="/v1/users/{user_id}",status="404"}' in text
    assert "fineline_http_request_duration_seconds_bucket" in text


async def test_idempotency_key_replays_the_same_result(client, admin, marketer):
    from tests.conftest import OWNED

    headers = {**admin.headers, "Idempotency-Key": "reg-1"}
    payload = {"kind": "long_code", "address": OWNED[0], "label": "Main"}
    first = await client.post("/v1/senders", json=payload, headers=headers)
    second = await client.post("/v1/senders", json=payload, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second.headers.get("idempotent-replayed") == "true"
    listed = await client.get("/v1/senders", headers=admin.headers)
    assert len(listed.json()["items"]) == 1

    changed = await client.post("/v1/senders", json={**payload, "label": "Other"}, headers=headers)
    assert changed.status_code == 422
    assert changed.json()["error"]["code"] == "idempotency_key_reused"
    fresh = await client.post("/v1/senders", json=payload, headers={**admin.headers, "Idempotency-Key": "reg-2"})
    assert fresh.status_code == 409  # a new key is a new request: the address is already registered


async def test_nul_and_nan_and_deep_json_are_422_not_500(client, admin):
    cases = [
        ("post", "/v1/users", {"content": b'{"email": "a@example.com", "name": "A\\u0000", "roles": ["ops"]}'}),
        ("post", "/v1/users", {"content": b'{"email": "a@example.com", "name": NaN, "roles": ["ops"]}'}),
        ("post", "/v1/users", {"content": b"[" * 100_000 + b"]" * 100_000}),
        ("get", "/v1/users?cursor=%00", {}),
        ("get", "/v1/users/usr_%00", {}),
        ("get", "/v1/audit?since=0001-01-01T00:00:00%2B01:00", {}),
    ]
    for method, path, kwargs in cases:
        headers = {**admin.headers, "content-type": "application/json"}
        response = await getattr(client, method)(path, headers=headers, **kwargs)
        assert response.status_code == 422, (path, kwargs, response.text)


async def test_offboarded_key_cannot_replay_an_idempotent_answer(client, admin, db):
    from tests.factories import make_user

    async with db.unit_of_work() as session:
        marketer = await make_user(session, roles=["marketer"])
    headers = {**marketer.headers, "Idempotency-Key": "list-1"}
    payload = {"name": "VIP", "opt_in": "single"}
    assert (await client.post("/v1/lists", json=payload, headers=headers)).status_code == 201
    await client.post(f"/v1/users/{marketer.id}/offboard", headers=admin.headers)
    replay = await client.post("/v1/lists", json=payload, headers=headers)
    assert replay.status_code == 401


async def test_patch_with_null_for_a_required_field_is_422(client, admin, marketer):
    from tests.conftest import OWNED

    sender = (await client.post("/v1/senders", json={"kind": "long_code", "address": OWNED[0], "label": "M"},
                                headers=admin.headers)).json()
    lst = (await client.post("/v1/lists", json={"name": "L", "opt_in": "single"}, headers=marketer.headers)).json()
    campaign = (await client.post("/v1/campaigns", json={"name": "C", "sender_id": sender["id"],
                                                         "list_ids": [lst["id"]], "body": "Hi. Reply STOP to opt out."},
                                  headers=marketer.headers)).json()
    for field in ("name", "body", "list_ids", "spike_policy"):
        response = await client.patch(f"/v1/campaigns/{campaign['id']}", json={field: None}, headers=marketer.headers)
        assert response.status_code == 422, response.text
    year_one = await client.patch(f"/v1/campaigns/{campaign['id']}", json={"scheduled_at": "0001-01-01T00:00:00+01:00"},
                                  headers=marketer.headers)
    assert year_one.status_code == 422
