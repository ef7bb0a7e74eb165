"""Server-sent events: one polling loop for every live stream (alerts, the inbox).

Each stream says what is new since its last look (``fetch``, returning ready SSE frames); this loop
asks every ``poll`` seconds until the client goes or ``duration`` runs out, with a keep-alive
comment when nothing was said for 15 seconds, so proxies keep the connection open.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import Request
from fastapi.responses import StreamingResponse

KEEP_ALIVE_SECONDS = 15.0


def frame(event_id: str | int, event: str, data: dict) -> str:
    return f"id: {event_id}\nevent: {event}\ndata: {json.dumps(data)}\n\n"


async def _polling(request: Request, fetch: Callable[[], Awaitable[list[str]]], *, poll: float,
                   duration: float | None) -> AsyncIterator[str]:
    ends = time.monotonic() + duration if duration else None
    quiet = 0.0
    yield "retry: 2000\n\n"
    while not await request.is_disconnected() and (ends is None or time.monotonic() < ends):
        frames = await fetch()
        for item in frames:
            yield item
        quiet = 0.0 if frames else quiet + poll
        if quiet >= KEEP_ALIVE_SECONDS:
            quiet = 0.0
            yield ": keep-alive\n\n"
        await asyncio.sleep(poll)


def event_stream(request: Request, fetch: Callable[[], Awaitable[list[str]]], *, poll: float,
                 duration: float | None) -> StreamingResponse:
    return StreamingResponse(_polling(request, fetch, poll=poll, duration=duration), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
