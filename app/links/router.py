"""``GET /<token>``: a tracked link's one hop to its destination, on a lean path.

The hottest public route: a bare ASGI handler ahead of every middleware and FastAPI's routing (as
the Twilio webhooks are, ``app/webhooks/router.py``). No key, nothing read from the request but the
path, the method, the user agent and the client's address. A path of exactly one token
(``TOKEN_CHARS`` URL-safe characters) is answered here; everything else goes on to the app.

- a known, unexpired token: ``302`` to the destination stored at send time (resolved by primary key
  together with the other redirects waiting, ``lookup.GroupLookup``, then kept in a bounded
  in-process cache for up to ``CACHE_SECONDS``); the click is handed to the
  ``ClickRecorder`` after the answer is sent, so recording it never delays or fails the redirect;
- an unknown or expired token: a small fixed ``404`` page (nothing of the request is reflected), so
  the domain is never an open redirect;
- the database unreachable while resolving: ``503`` with Retry-After.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from urllib.parse import quote

from app.db.base import utcnow
from app.links import bots, service
from app.links.clicks import ClickRecorder
from app.links.lookup import GroupLookup
from app.links.rewrite import TOKEN_CHARS, TOKEN_PATTERN
from app.ops.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = logging.getLogger(__name__)

ROUTE = "/{token}"
NOT_FOUND_PAGE = (b"<!doctype html><meta charset=utf-8><title>Link not found</title>"
                  b"<p>This link does not exist or has expired.</p>")
UNAVAILABLE_PAGE = (b"<!doctype html><meta charset=utf-8><title>Try again</title>"
                    b"<p>This link cannot be opened right now. Please try again in a moment.</p>")
_SAFE_IN_URL = ":/?#[]@!$&'()*+,;=%~"
_COMMON = ((b"cache-control", b"no-store"), (b"referrer-policy", b"no-referrer"),
           (b"x-content-type-options", b"nosniff"))


def is_link_path(path: str) -> bool:
    return len(path) == TOKEN_CHARS + 1 and TOKEN_PATTERN.fullmatch(path, 1) is not None


#: A cached link is resolved again after this long, so a change to it (an erased subscriber's links
#: stop resolving) reaches every process within a minute.
CACHE_SECONDS = 60.0


class LinkCache:
    """The links resolved lately, least recently used out first (``size`` 0: no cache), each for at
    most ``CACHE_SECONDS``."""

    def __init__(self, size: int, max_age: float = CACHE_SECONDS) -> None:
        self.size, self.max_age = size, max_age
        self._items: OrderedDict[str, tuple[service.Resolved, float]] = OrderedDict()

    def get(self, token: str) -> service.Resolved | None:
        item = self._items.get(token)
        if item is None:
            return None
        if time.monotonic() - item[1] > self.max_age:
            del self._items[token]
            return None
        self._items.move_to_end(token)
        return item[0]

    def put(self, link: service.Resolved) -> None:
        if self.size <= 0:
            return
        self._items[link.token] = (link, time.monotonic())
        if len(self._items) > self.size:
            self._items.popitem(last=False)


def recorder_of(state, settings) -> ClickRecorder:
    """The app's click recorder (made by the lifespan; made here when an app is served without one)."""
    recorder = getattr(state, "clicks", None)
    if recorder is None or recorder.db is not state.db:
        recorder = state.clicks = ClickRecorder(state.db, batch=settings.link_click_batch,
                                                buffer=settings.link_click_buffer,
                                                preview_seconds=settings.link_preview_seconds)
    return recorder


async def _answer(send, code: int, body: bytes, headers: tuple[tuple[bytes, bytes], ...], head: bool) -> None:
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-length", str(len(body)).encode()), *_COMMON, *headers]})
    await send({"type": "http.response.body", "body": b"" if head else body})


class TrackedLinks:
    """ASGI middleware answering ``GET``/``HEAD /<token>`` itself; everything else goes on to ``app``."""

    def __init__(self, app, *, settings) -> None:
        self.app, self.settings = app, settings
        self.cache = LinkCache(settings.link_cache_size)
        self.lookup: GroupLookup | None = None

    def _lookup(self, db) -> GroupLookup:
        if self.lookup is None or self.lookup.db is not db:
            self.lookup = GroupLookup(db)
        return self.lookup

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or not is_link_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        code = 500
        try:
            code = await self._handle(scope, send)
        finally:
            HTTP_REQUESTS.labels(scope["method"], ROUTE, str(code)).inc()
            HTTP_LATENCY.labels(scope["method"], ROUTE).observe(time.perf_counter() - started)

    async def _handle(self, scope, send) -> int:
        token, head = scope["path"][1:], scope["method"] == "HEAD"
        state = scope["app"].state
        link = self.cache.get(token)
        if link is None:
            try:
                link = await self._lookup(state.db).get(token)
            except Exception:
                log.exception("a tracked link could not be resolved")
                await _answer(send, 503, UNAVAILABLE_PAGE, ((b"content-type", b"text/html; charset=utf-8"),
                                                            (b"retry-after", b"1")), head)
                return 503
            if link is not None:
                self.cache.put(link)
        now = utcnow()
        if link is None or link.expires_at <= now:
            await _answer(send, 404, NOT_FOUND_PAGE, ((b"content-type", b"text/html; charset=utf-8"),), head)
            return 404
        location = quote(link.destination, safe=_SAFE_IN_URL).encode("latin-1")
        await _answer(send, 302, b"", ((b"location", location),), head)
        try:
            user_agent = None
            for name, value in scope.get("headers", ()):
                if name == b"user-agent":
                    user_agent = value.decode("latin-1")
                    break
            client = scope.get("client")
            recorder_of(state, self.settings).add(service.PendingClick(
                link, now, scope["method"], user_agent, bots.truncated_ip(client[0] if client else None)))
        except Exception:  # the recipient already has their answer
            log.exception("a link click could not be queued")
        return 302
