"""Request headers that must not be ambiguous, and response headers that keep pages out of frames.

Two ``Authorization`` headers would let one layer judge a request by one key and another layer by
the other (the idempotency store scoped answers by the last one while the routes read the first):
such a request is refused with 400 before anything reads it.
"""

from __future__ import annotations

from app.ops.limits import _reject


class SingleAuthorization:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and sum(1 for name, _ in scope.get("headers", ()) if name == b"authorization") > 1:
            await _reject(send, 400, "duplicate_header",
                          "the request has more than one Authorization header; send exactly one")
            return
        await self.app(scope, receive, send)
