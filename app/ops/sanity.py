"""Refuse input no database column can hold, before any route sees it: NUL characters (PostgreSQL
text cannot store them) in the path, the query or a JSON body, and NaN/Infinity in JSON (not JSON,
and not storable in a JSON column). Each refusal is a 422 that names the problem.

Webhooks (form bodies, signed by Twilio) and the subscriber import (``POST /v1/lists/{id}/imports``
exactly, streamed and judged row by row) are handled where they are read; this guard looks at JSON bodies only.
"""

from __future__ import annotations

import json

from app.ops.limits import _reject, is_import_upload


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


class InputSanity:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path = scope.get("raw_path") or scope["path"].encode()
        if b"%00" in raw_path or b"\x00" in raw_path or b"%00" in scope.get("query_string", b""):
            await _reject(send, 422, "invalid", "the URL contains a NUL character")
            return
        headers = dict(scope.get("headers", ()))
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type != b"application/json" or is_import_upload(scope):
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if body:
            try:
                parsed = json.loads(body, parse_constant=_constant)
            except (ValueError, RecursionError) as exc:
                if "is not a JSON value" in str(exc) or isinstance(exc, RecursionError):
                    await _reject(send, 422, "invalid_json", f"the body is not acceptable JSON: {exc}"[:300])
                    return
                parsed = None  # malformed JSON: the route's own parser names the problem
            if parsed is not None and _has_nul(parsed):
                await _reject(send, 422, "invalid", "the body contains a NUL character (\\u0000), which cannot be stored")
                return
        delivered = False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
