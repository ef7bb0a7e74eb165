"""Issue 21 items 4–10: the holes a security review found, each shown closed through the real API."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from app.db.base import utcnow
from app.models import IdempotencyRecord
from app.ops.idempotency import purge_expired
from tests.factories import make_user
from tests.test_campaigns import setup, to_approved  # noqa: F401 - setup is a fixture: a sender and a list

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
                                                                     setup):  # noqa: F811 - the fixture
    async with db.unit_of_work() as session:
        rival = await make_user(session, roles=["marketer"])
    campaign = await to_approved(client, marketer, reviewer, setup)
    path = f"/v1/campaigns/{campaign['id']}"
    for action in ("launch", "cancel"):
        refused = await client.post(f"{path}/{action}", headers=rival.headers)
        assert refused.status_code == 403, (action, refused.text)
        assert "owner" in refused.json()["error"]["message"]
    assert (await client.post(f"{path}/launch", headers=marketer.headers)).json()["status"] == "sending"
    assert (await client.post(f"{path}/pause", headers=rival.headers)).status_code == 403
    assert (await client.post(f"{path}/pause", headers=ops.headers)).json()["status"] == "paused"
    assert (await client.post(f"{path}/resume", headers=rival.headers)).status_code == 403
    assert (await client.post(f"{path}/resume", headers=marketer.headers)).json()["status"] == "sending"
    assert (await client.post(f"{path}/pause", headers=marketer.headers)).json()["status"] == "paused"
    assert (await client.post(f"{path}/cancel", headers=rival.headers)).status_code == 403
    assert (await client.get(path, headers=marketer.headers)).json()["status"] == "paused"
    assert (await client.post(f"{path}/cancel", headers=ops.headers)).json()["status"] == "cancelled"

