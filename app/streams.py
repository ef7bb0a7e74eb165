"""Server-sent events: one loop for every live stream (alerts, the inbox), held against its API key.

Each stream says what is new since its last look (``fetch``, returning ready SSE frames); this loop
asks every ``poll`` seconds until the client goes, with a keep-alive comment when nothing was said
for 15 seconds, so proxies keep the connection open.

A stream outlives no key: the key is checked again every ``alert_stream_recheck_seconds`` (revoked,
offboarded, or its user no longer has a role the stream needs: the stream ends with a ``closed``
event); a stream lasts at most ``alert_stream_max_seconds`` (the client reconnects, authenticating
again); and one key holds at most ``alert_streams_per_key`` streams at once in an API process (429
beyond). The key itself is re-checked against the database, so a revoked key loses every stream
within one re-check wherever it runs.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from app import api_keys as keys
from app.config import Settings
from app.errors import TooManyRequests

KEEP_ALIVE_SECONDS = 15.0

_open: Counter[str] = Counter()


class StreamSlot:
    """One stream's place under its key's cap. ``release`` may be called more than once."""

    def __init__(self, token: str, limit: int):
        self.fingerprint = keys.digest(token)
        if _open[self.fingerprint] >= limit:
            raise TooManyRequests(f"this API key already holds {limit} live streams (the limit per key); close one "
                                  "or use another key", code="too_many_streams")
        _open[self.fingerprint] += 1
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            _open[self.fingerprint] -= 1
            if _open[self.fingerprint] <= 0:
                del _open[self.fingerprint]


async def key_still_allows(session, token: str, *roles: str) -> str | None:
    """None while the key is live and its user active with one of ``roles``; else why the stream closes."""
    user = await keys.authenticate(session, token)
    if user is None:
        return "the API key was revoked or its user offboarded"
    if not user.has_any(*roles):
        return f"the key's user no longer has the role {' or '.join(roles)}"
    return None


def frame(event_id: str | int, event: str, data: dict) -> str:
    return f"id: {event_id}\nevent: {event}\ndata: {json.dumps(data)}\n\n"


def closed(reason: str) -> str:
    return f"event: closed\ndata: {json.dumps({'reason': reason})}\n\n"


def event_stream(request: Request, fetch: Callable[[], Awaitable[list[str]]], *, settings: Settings, token: str,
                 roles: tuple[str, ...], poll: float, duration: float | None) -> StreamingResponse:
    db = request.app.state.db
    slot = StreamSlot(token, settings.alert_streams_per_key)
    limit = min(duration or settings.alert_stream_max_seconds, settings.alert_stream_max_seconds)

    async def events() -> AsyncIterator[str]:
        ends = time.monotonic() + limit
        rechecked = time.monotonic()
        quiet = 0.0
        try:
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                if time.monotonic() >= ends:
                    yield closed("the stream reached its maximum duration; reconnect to go on")
                    return
                if time.monotonic() - rechecked >= settings.alert_stream_recheck_seconds:
                    rechecked = time.monotonic()
                    async with db.session() as session:
                        refused = await key_still_allows(session, token, *roles)
                    if refused:
                        yield closed(refused)
                        return
                frames = await fetch()
                for item in frames:
                    yield item
                quiet = 0.0 if frames else quiet + poll
                if quiet >= KEEP_ALIVE_SECONDS:
                    quiet = 0.0
                    yield ": keep-alive\n\n"
                await asyncio.sleep(min(poll, max(0.0, ends - time.monotonic())))
        finally:
            slot.release()

    # The slot is released when the events end, and again (harmlessly) after the response, in case the
    # client left before the first event and the generator never ran.
    return StreamingResponse(events(), media_type="text/event-stream", background=BackgroundTask(slot.release),
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
