"""The two Twilio webhooks on a lean path: a bare ASGI handler ahead of FastAPI's middleware and routing.

A status callback or a STOP is a small signed form; FastAPI's routing, dependency injection, form
parsing and a session per request cost about half of each one. Here each request is read (capped),
its signature checked with twilio's RequestValidator, then:

- ``POST /webhooks/twilio/status``: handed to the group commit (``ingest.GroupCommit``) and answered
  204 once its batch is committed; 503 with Retry-After when too many wait or the commit failed, so
  Twilio retries (the callback URL carries ``#rc=…&rp=all``);
- ``POST /webhooks/twilio/inbound``: its own session on the inbound pool (``app.state.inbound_db``, a
  few connections no callback or other request uses), ``inbound.handle``, COMMIT, then the TwiML
  answer — a STOP is durable before the 200, never queued behind callbacks for a batch or a connection.

Errors keep the API's shape (``{"error": {...}}``) and statuses.
"""

from __future__ import annotations

import json
import logging
import time

from twilio.twiml.messaging_response import MessagingResponse

from app.errors import AppError, MethodNotAllowed, PayloadTooLarge, Unavailable, error_body
from app.ops.metrics import HTTP_LATENCY, HTTP_REQUESTS
from app.webhooks import inbound, status
from app.webhooks.ingest import GroupCommit, Overloaded
from app.webhooks.signature import form_params, signed_url, verified

INBOUND, STATUS = "/webhooks/twilio/inbound", "/webhooks/twilio/status"
PATHS = frozenset({INBOUND, STATUS})
log = logging.getLogger(__name__)


def twiml(reply: str | None) -> bytes:
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return str(response).encode()


async def _answer(send, code: int, body: bytes = b"", content_type: bytes | None = None,
                  headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    head = [(b"content-length", str(len(body)).encode()), *headers]
    if content_type:
        head.append((b"content-type", content_type))
    await send({"type": "http.response.start", "status": code, "headers": head})
    await send({"type": "http.response.body", "body": body})


async def _error(send, exc: AppError, headers: tuple[tuple[bytes, bytes], ...] = ()) -> int:
    body = json.dumps(error_body(exc.code, exc.message, exc.details)).encode()
    await _answer(send, exc.status, body, b"application/json", headers)
    return exc.status


async def _read_body(scope, receive, limit: int) -> bytes:
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Unavailable("the client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


class TwilioWebhooks:
    """ASGI middleware answering the two Twilio webhooks itself; everything else goes on to ``app``."""

    def __init__(self, app, *, settings) -> None:
        self.app, self.settings = app, settings
        self.ingest: GroupCommit | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] not in PATHS:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        code = 500
        try:
            code = await self._handle(scope, receive, send)
        finally:
            HTTP_REQUESTS.labels(scope["method"], scope["path"], str(code)).inc()
            HTTP_LATENCY.labels(scope["method"], scope["path"]).observe(time.perf_counter() - started)

    async def _handle(self, scope, receive, send) -> int:
        if scope["method"] != "POST":
            return await _error(send, MethodNotAllowed(f"{scope['method']} is not allowed on {scope['path']}"),
                                ((b"allow", b"POST"),))
        settings, path = self.settings, scope["path"]
        if path == STATUS and self.ingest is not None and self.ingest.waiting >= self.ingest.max_waiting:
            # Shed load before reading or checking anything: nothing is stored, Twilio retries.
            return await _error(send, Unavailable("too many status callbacks at once; retry shortly"),
                                ((b"retry-after", b"1"),))
        headers = dict(scope.get("headers", ()))
        try:
            body = await _read_body(scope, receive, settings.max_body_bytes)
            url = signed_url(settings.public_base_url, path, scope.get("query_string", b"").decode("latin-1"))
            params = verified(url, form_params(body, headers.get(b"content-type", b"").decode("latin-1")),
                              headers.get(b"x-twilio-signature", b"").decode("latin-1") or None, settings.auth_token)
        except AppError as exc:
            return await _error(send, exc)
        state = scope["app"].state
        if path == STATUS:
            return await self._status(scope, send, state.db, params)
        try:  # the inbound path's own pool (app.main): a STOP never waits behind callbacks for a connection
            async with getattr(state, "inbound_db", state.db).unit_of_work() as session:
                result = await inbound.handle(session, params, settings)
        except AppError as exc:
            return await _error(send, exc)
        except Exception:  # not committed: Twilio retries the message
            log.exception("an inbound message could not be stored")
            return await _error(send, Unavailable("the message could not be stored; retry shortly"),
                                ((b"retry-after", b"1"),))
        await _answer(send, 200, twiml(result.reply), b"application/xml")
        return 200

    async def _status(self, scope, send, db, params: dict[str, str]) -> int:
        row = status.parse(params, _query_value(scope, b"m"))
        if row is not None:
            if self.ingest is None or self.ingest.db is not db:
                # SQLite has one writer: batches in flight would only wait for its lock in turn
                self.ingest = GroupCommit(db, in_flight=1 if db.dialect == "sqlite" else 4)
            try:
                await self.ingest.store(row)
            except Overloaded as exc:
                return await _error(send, Unavailable(str(exc)), ((b"retry-after", b"1"),))
            except Exception:  # not committed: not acknowledged; Twilio retries it
                log.exception("a status callback could not be stored")
                return await _error(send, Unavailable("the callback could not be stored; retry shortly"),
                                    ((b"retry-after", b"1"),))
        await _answer(send, 204)
        return 204


def _query_value(scope, name: bytes) -> str | None:
    for pair in scope.get("query_string", b"").split(b"&"):
        key, _, value = pair.partition(b"=")
        if key == name:
            return value.decode("latin-1")
    return None
