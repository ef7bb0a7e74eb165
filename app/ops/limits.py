"""Refuse oversized request bodies before they are read into memory.

Every request gets the small limit (``max_body_bytes``). One route may take more: the subscriber
import, ``POST /v1/lists/{list_id}/imports`` (matched exactly: method and route), and only once the
route has checked the caller's key and role — it then calls ``grant_import_limit``. Until then a
body is counted against the small limit, so a caller without a good key can make the service read
no more than that; the route authenticates before it reads a byte. A declared Content-Length above
the limit that could apply is refused at once, before the app is called.
"""

from __future__ import annotations

import contextlib
import json
import re

#: The one route whose body may be larger than ``max_body_bytes``.
IMPORT_METHOD = "POST"
IMPORT_PATH = re.compile(r"/v1/lists/[^/]+/imports")

_GRANTED = "fineline.body_limit"  # the scope key a route sets to raise its own limit


def is_import_upload(scope) -> bool:
    """True for ``POST /v1/lists/{list_id}/imports``, exactly (no other method, no other path)."""
    return scope.get("method") == IMPORT_METHOD and IMPORT_PATH.fullmatch(scope.get("path", "")) is not None


def grant_import_limit(scope, limit: int) -> None:
    """Called by the import route once the caller's key and role are known good: the rest of the
    body may be read up to ``limit``."""
    if is_import_upload(scope):
        scope[_GRANTED] = limit


class BodySizeLimit:
    """413 for a body larger than the limit, by Content-Length or by counting a streamed body."""

    def __init__(self, app, *, limit: int, large_limit: int):
        self.app = app
        self.limit = limit
        self.large_limit = large_limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The most this request could ever be allowed: only the import route may be granted more.
        ceiling = self.large_limit if is_import_upload(scope) else self.limit
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _reject(send, 400, "bad_request", "Content-Length is not a number")
                    return
                if declared > ceiling:
                    await _reject(send, 413, "payload_too_large",
                                  f"the body is {declared} bytes; the limit is {ceiling}")
                    return
        received = 0
        exceeded = 0

        async def counting_receive():
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                limit = min(ceiling, scope.get(_GRANTED, self.limit))
                if received > limit:
                    exceeded = limit
                    raise _TooLarge
            return message

        async def guarded_send(message):
            # Once the body overflowed, whatever the app answers (frameworks turn the read error into
            # a 400) is replaced by our 413.
            if not exceeded:
                await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, counting_receive, guarded_send)
        if exceeded:
            await _reject(send, 413, "payload_too_large", f"the body is larger than the limit of {exceeded} bytes")


class _TooLarge(Exception):
    pass


async def _reject(send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message, "details": None}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
