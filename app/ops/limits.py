"""Refuse oversized request bodies before they are read into memory."""

from __future__ import annotations

import contextlib
import json


class BodySizeLimit:
    """413 for a body larger than the limit, by Content-Length or by counting a streamed body.

    Paths in ``large`` (file imports) get the larger limit and are streamed by their handlers.
    """

    def __init__(self, app, *, limit: int, large_limit: int, large_suffixes: tuple[str, ...] = ("/imports",)):
        self.app = app
        self.limit = limit
        self.large_limit = large_limit
        self.large_suffixes = large_suffixes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.large_limit if scope["path"].endswith(self.large_suffixes) else self.limit
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _reject(send, 400, "bad_request", "Content-Length is not a number")
                    return
                if declared > limit:
                    await _reject(send, 413, "payload_too_large", f"the body is {declared} bytes; the limit is {limit}")
                    return
        received = 0
        exceeded = False

        async def counting_receive():
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
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
            await _reject(send, 413, "payload_too_large", f"the body is larger than the limit of {limit} bytes")


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
