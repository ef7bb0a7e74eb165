"""``Idempotency-Key`` on POSTs that create things: the same key and body return the same result.

The key is scoped to the caller (their Authorization header), the method and the path. A key reused
with a different body is refused with 422. Answers of 5xx are not stored (the client may retry).
Routes that reveal an API key (user creation, key issuing) are not replayed: storing their answer
would store the key itself, which Fineline keeps only as a hash.

Records expire after ``idempotency_ttl_hours`` (24 by default): an older record is ignored (the
request runs as new) and the worker deletes expired ones (``purge_expired``).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app import api_keys
from app.db.base import utcnow
from app.db.upsert import insert_ignore
from app.models import IdempotencyRecord
from app.ops.limits import is_import_upload

SECRET_PATHS = ("/v1/users",)
IN_PROGRESS = 0


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


class IdempotencyMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if (scope["type"] != "http" or scope["method"] != "POST" or scope["path"].startswith(SECRET_PATHS)
                or is_import_upload(scope)):  # streamed, never buffered here; re-importing changes nothing
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        supplied = headers.get(b"idempotency-key")
        if not supplied:
            await self.app(scope, receive, send)
            return
        if len(supplied) > 200:
            await _answer(send, 422, "application/json", json.dumps({"error": {
                "code": "invalid", "message": "Idempotency-Key is longer than 200 characters",
                "details": [{"field": "Idempotency-Key", "message": "too long"}]}}).encode())
            return
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            more = message.get("more_body", False)
        key = _digest(headers.get(b"authorization", b""), scope["path"].encode(), supplied)
        request_hash = _digest(body)
        sent_body = False  # the body was read here: hand it on to the route

        async def replay_receive():
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        db = scope["app"].state.db
        expired_before = utcnow() - timedelta(hours=scope["app"].state.settings.idempotency_ttl_hours)
        async with db.session() as session:
            # Only a live key may see a stored answer: an offboarded employee's replay gets 401.
            token = headers.get(b"authorization", b"").decode(errors="replace").partition(" ")[2].strip()
            if await api_keys.authenticate(session, token) is None:
                await self.app(scope, replay_receive, send)  # the route answers 401 as usual
                return
        async with db.unit_of_work() as session:
            await purge_expired(session, before=expired_before, key=key)  # an expired answer is not replayed
            # Reserve the key first, so concurrent duplicates wait for the first answer instead of
            # creating the thing twice.
            reserved = await insert_ignore(session, IdempotencyRecord, {
                "key": key, "request_hash": request_hash, "status": IN_PROGRESS, "content_type": "",
                "body": b"", "created_at": utcnow()}, conflict=["key"])
            stored = None
            if not reserved:
                row = await session.get(IdempotencyRecord, key)
                stored = (row.request_hash, row.status, row.content_type, row.body)
        if stored is not None:
            if stored[0] != request_hash:
                await _answer(send, 422, "application/json", json.dumps({"error": {
                    "code": "idempotency_key_reused",
                    "message": "this Idempotency-Key was used with a different request body",
                    "details": [{"field": "Idempotency-Key", "message": "reused with a different body"}]}}).encode())
                return
            if stored[1] == IN_PROGRESS:
                await _answer(send, 409, "application/json", json.dumps({"error": {
                    "code": "idempotency_in_progress",
                    "message": "a request with this Idempotency-Key is still being processed; retry shortly",
                    "details": None}}).encode())
                return
            await _answer(send, stored[1], stored[2], stored[3], replayed=True)
            return

        captured = {"status": 500, "content_type": "application/json", "body": b""}

        async def capture_send(message):
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                for name, value in message.get("headers", ()):
                    if name == b"content-type":
                        captured["content_type"] = value.decode()
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, replay_receive, capture_send)
        finally:
            async with db.unit_of_work() as session:
                row = await session.get(IdempotencyRecord, key)
                if captured["status"] < 500 and row is not None:
                    row.status, row.content_type, row.body = captured["status"], captured["content_type"], captured["body"]
                elif row is not None:  # a failure is not an answer to replay: the client may retry
                    await session.delete(row)


async def purge_expired(session: AsyncSession, *, before: datetime, key: str | None = None) -> int:
    """Delete the records made before ``before`` (only ``key``'s, when given). Returns how many."""
    statement = delete(IdempotencyRecord).where(IdempotencyRecord.created_at < before)
    if key is not None:
        statement = statement.where(IdempotencyRecord.key == key)
    return (await session.execute(statement)).rowcount or 0


async def _answer(send, status: int, content_type: str, body: bytes, replayed: bool = False) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    if replayed:
        headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
