"""The `twilio` SDK driven through httpx, with a fast aiohttp connection pool underneath.

Layers, top to bottom::

    twilio.rest.Client(..., http_client=HttpxTwilioClient(...))   # SDK: URLs, params, parsing
      -> HttpxTwilioClient.request()                               # rewrites *.twilio.com to api_base
        -> httpx.AsyncClient                                       # the API our code and tests see
          -> AiohttpPoolTransport (a httpx.AsyncHTTPTransport)     # <- pytest-httpx intercepts here
            -> AiohttpPool (httpcore's pool interface, aiohttp)    # sockets

Why this shape (figures in docs/transport.md and docs/benchmarks.md): httpx's own connection pool
(httpcore) collapses under concurrency, aiohttp's carries thousands. The
`httpx-aiohttp` package's ``AiohttpTransport`` derives from ``httpx.AsyncBaseTransport``, which
pytest-httpx does not patch, and it maps a server disconnect or connection reset after the request
was written to ``httpx.ConnectTimeout`` (which reads as "never sent" -- exactly wrong for a POST
that has no idempotency key). So ``AiohttpPoolTransport`` *is* an ``httpx.AsyncHTTPTransport`` --
pytest-httpx patches ``AsyncHTTPTransport.handle_async_request`` and so intercepts the production
transport in every test -- and only swaps httpcore's pool (``_pool``) for an aiohttp-backed one that
raises httpcore's exceptions, which httpx maps as usual:

* connection refused / DNS / connect or pool timeout -> ``httpx.ConnectError``/``ConnectTimeout``
  (nothing was sent: safe to retry)
* read timeout -> ``httpx.ReadTimeout``; disconnect, reset, bad response -> ``httpx.ReadError`` /
  ``httpx.RemoteProtocolError`` (the request may have been processed: outcome unknown)

No layer here retries anything. aiohttp itself retries a request on a stale keep-alive connection
only for idempotent methods, never for POST.

Create the client inside the running event loop and ``await aclose()`` it on shutdown.
"""

from __future__ import annotations

import base64
import logging
import os
import ssl
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpcore
import httpx
from twilio.http import AsyncHttpClient
from twilio.http.response import Response as TwilioResponse
from yarl import URL

__all__ = [
    "DEFAULT_TIMEOUT",
    "TRANSPORTS",
    "AiohttpPool",
    "AiohttpPoolTransport",
    "HttpxTwilioClient",
    "build_httpx_client",
    "build_transport",
    "transport_from_env",
]

_logger = logging.getLogger("fineline.providers.twilio_http")

#: Explicit timeouts (seconds). connect/pool failures mean "not sent"; a read timeout means "unknown".
#: The whole budget (30 s) fits inside the dispatch lease margin (app/dispatch/send.py LEASE_MARGIN),
#: so a send started before the lease deadline is over before another worker may reconcile it.
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=5.0, pool=5.0)

#: ``aiohttp``: httpx API over our aiohttp pool (production and tests).
#: ``httpx``: httpx's own httpcore pool (fine for low concurrency; slow above a few dozen in flight).
#: ``httpx-aiohttp``: the httpx-aiohttp package's transport -- benchmark comparison only: pytest-httpx
#: cannot see it and its exception mapping is unsafe for POST (see module docstring).
TRANSPORTS = ("aiohttp", "httpx", "httpx-aiohttp")

TRANSPORT_ENV = "FINELINE_HTTP_TRANSPORT"
API_BASE_ENV = "FINELINE_TWILIO_API_BASE"


def transport_from_env(default: str = "aiohttp") -> str:
    value = os.environ.get(TRANSPORT_ENV, default).strip().lower() or default
    if value not in TRANSPORTS:
        raise ValueError(f"{TRANSPORT_ENV}={value!r}: expected one of {', '.join(TRANSPORTS)}")
    return value


# --------------------------------------------------------------------------------------------------
# Transport: httpx.AsyncHTTPTransport with an aiohttp pool
# --------------------------------------------------------------------------------------------------


class AiohttpPool:
    """Implements the part of ``httpcore.AsyncConnectionPool`` that ``httpx.AsyncHTTPTransport`` uses.

    Responses are read whole before returning (Twilio answers are small JSON documents), which frees
    the connection at once and keeps every socket error inside this method.
    """

    def __init__(
        self,
        *,
        max_connections: int = 256,
        keepalive_expiry: float | None = 30.0,
        local_address: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        session_factory: Callable[[], aiohttp.ClientSession] | None = None,
    ) -> None:
        self._ssl_context = ssl_context
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._local_address = local_address
        self._session_factory = session_factory
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[Any, ...], aiohttp.ClientTimeout] = {}
        self._urls: dict[tuple[bytes, bytes, int | None, bytes], URL] = {}

    def _new_session(self) -> aiohttp.ClientSession:
        if self._session_factory is not None:
            return self._session_factory()
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,  # aiohttp's default is 100: must cover the in-flight target
            limit_per_host=0,
            keepalive_timeout=self._keepalive_expiry if self._keepalive_expiry is not None else 30.0,
            local_addr=(self._local_address, 0) if self._local_address else None,
            ttl_dns_cache=300,
            ssl=self._ssl_context if self._ssl_context is not None else True,
        )
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # httpx keeps cookies
            auto_decompress=False,  # httpx decodes Content-Encoding
            trust_env=False,
            timeout=aiohttp.ClientTimeout(total=None),
        )

    def _url(self, url: httpcore.URL) -> URL:
        key = (url.scheme, url.host, url.port, url.target)
        cached = self._urls.get(key)
        if cached is None:
            host = url.host.decode("ascii")
            if ":" in host:  # IPv6 literal
                host = f"[{host}]"
            port = f":{url.port}" if url.port is not None else ""
            cached = URL(
                f"{url.scheme.decode('ascii')}://{host}{port}{url.target.decode('ascii')}", encoded=True
            )
            if len(self._urls) >= 512:
                self._urls.clear()
            self._urls[key] = cached
        return cached

    def _timeout(self, ext: dict[str, float | None]) -> aiohttp.ClientTimeout:
        key = (ext.get("connect"), ext.get("read"), ext.get("pool"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            connect, read, pool = key
            # aiohttp's "connect" covers waiting for a pool slot plus connecting.
            total_connect = None if connect is None and pool is None else (connect or 0.0) + (pool or 0.0)
            timeout = aiohttp.ClientTimeout(
                total=None, connect=total_connect, sock_connect=connect, sock_read=read
            )
            self._timeouts[key] = timeout
        return timeout

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        session = self._session
        if session is None or session.closed:
            session = self._session = self._new_session()
        target = self._url(request.url)
        chunks = [chunk async for chunk in request.stream]  # type: ignore[union-attr]
        body = b"".join(chunks) if chunks else None
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers]
        method = request.method.decode("ascii")
        try:
            async with session.request(
                method,
                target,
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=self._timeout(request.extensions.get("timeout", {})),
            ) as resp:
                content = await resp.read()
                raw_headers = list(resp.raw_headers)
                status = resp.status
                reason = resp.reason
        except aiohttp.ConnectionTimeoutError as exc:  # waiting for a slot or connecting
            raise httpcore.ConnectTimeout(str(exc) or "connect timeout") from exc
        except aiohttp.ClientConnectorError as exc:  # refused, DNS, TLS handshake
            raise httpcore.ConnectError(str(exc)) from exc
        except (aiohttp.SocketTimeoutError, TimeoutError) as exc:
            raise httpcore.ReadTimeout(str(exc) or "read timeout") from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise httpcore.RemoteProtocolError(str(exc) or "server disconnected") from exc
        except aiohttp.ClientResponseError as exc:
            raise httpcore.RemoteProtocolError(str(exc)) from exc
        except (aiohttp.ClientPayloadError, aiohttp.ClientOSError, aiohttp.ClientConnectionError) as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc
        except aiohttp.InvalidURL as exc:
            raise httpcore.UnsupportedProtocol(str(exc)) from exc
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if reason:
            extensions["reason_phrase"] = reason.encode("latin-1", "replace")
        return httpcore.Response(status, headers=raw_headers, content=content, extensions=extensions)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> AiohttpPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class AiohttpPoolTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` whose connection pool is aiohttp's (see module docstring)."""

    def __init__(
        self,
        *,
        limits: httpx.Limits | None = None,
        verify: ssl.SSLContext | bool = True,
        local_address: str | None = None,
        session_factory: Callable[[], aiohttp.ClientSession] | None = None,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=256, max_keepalive_connections=256)
        # The same TLS set-up as httpx's (certifi's CA bundle), not the system's, which slim images lack.
        ssl_context = (
            verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
        )
        # The base class builds an httpcore pool (no sockets until used); it is replaced at once.
        super().__init__(verify=ssl_context, limits=limits, local_address=local_address)
        self._pool = AiohttpPool(  # type: ignore[assignment]
            max_connections=limits.max_connections or 256,
            keepalive_expiry=limits.keepalive_expiry,
            local_address=local_address,
            ssl_context=ssl_context,
            session_factory=session_factory,
        )


def build_transport(transport: str, *, max_in_flight: int = 256) -> httpx.AsyncBaseTransport:
    limits = httpx.Limits(
        max_connections=max_in_flight, max_keepalive_connections=max_in_flight, keepalive_expiry=30.0
    )
    if transport == "aiohttp":
        return AiohttpPoolTransport(limits=limits)
    if transport == "httpx":
        return httpx.AsyncHTTPTransport(limits=limits, retries=0)
    if transport == "httpx-aiohttp":
        try:
            from httpx_aiohttp import AiohttpTransport
        except ImportError as exc:  # a benchmark comparison, not a production dependency
            raise RuntimeError("the httpx-aiohttp transport is for benchmarks: pip install 'fineline[bench]'") from exc

        def session() -> aiohttp.ClientSession:
            return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=max_in_flight))

        return AiohttpTransport(client=session)
    raise ValueError(f"unknown transport {transport!r}: expected one of {', '.join(TRANSPORTS)}")


def build_httpx_client(
    transport: str | None = None,
    *,
    max_in_flight: int = 256,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for provider calls. ``transport=None`` reads FINELINE_HTTP_TRANSPORT.

    ``max_in_flight`` sizes the connection pool: throughput ~= in flight / provider latency, so
    2,000 msg/s at 100 ms needs >= 200 connections.
    """
    name = transport or transport_from_env()
    return httpx.AsyncClient(
        transport=build_transport(name, max_in_flight=max_in_flight),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )


# --------------------------------------------------------------------------------------------------
# The SDK's HTTP client
# --------------------------------------------------------------------------------------------------


def _basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


_URL_CACHE_SIZE = 512

#: Default of ``HttpxTwilioClient(api_base=...)``: read ``$FINELINE_TWILIO_API_BASE``.
FROM_ENV: Any = object()


def _is_twilio_host(host: str) -> bool:
    return host == "twilio.com" or host.endswith(".twilio.com")


def _normalise_api_base(api_base: str | None) -> str | None:
    """None means "talk to Twilio's own hosts"; so does a base on twilio.com itself (rewriting
    messaging.twilio.com to api.twilio.com would break every product but the 2010 API)."""
    if not api_base:
        return None
    api_base = api_base.rstrip("/")
    if _is_twilio_host(urlsplit(api_base).hostname or ""):
        return None
    return api_base


def _text(content: bytes, response: httpx.Response) -> str:
    """Twilio answers JSON, which is UTF-8; httpx's ``.text`` parses Content-Type with the email
    package on every call (a measurable cost per message: docs/benchmarks.md), so try the common
    case first."""
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return content.decode(response.encoding or "utf-8", errors="replace")


class HttpxTwilioClient(AsyncHttpClient):
    """``twilio.http.AsyncHttpClient`` over an ``httpx.AsyncClient``.

    ``api_base`` (e.g. ``http://127.0.0.1:8765``) replaces scheme and host of every
    ``https://*.twilio.com`` URL the SDK builds, keeping path and query. Left out, it is read from
    ``$FINELINE_TWILIO_API_BASE``; ``None``, empty, or a base on twilio.com itself means Twilio's
    own per-product hosts, unchanged. Twilio's products have distinct path prefixes on
    their own hosts (``/2010-04-01/...`` on api., ``/v1/Services`` on messaging.), and the original
    host travels in ``X-Twilio-Host`` for a fake server that needs to tell e.g. messaging.'s and
    conversations.' ``/v1/Services`` apart.

    Lean path (default): the request is built as an ``httpx.Request`` -- with the client's default
    headers and timeout -- and handed straight to the client's transport for that URL.
    ``AsyncClient.send``'s own pipeline (auth flow, redirects, event hooks and, above all, cookie
    extraction through ``http.cookiejar``) costs more per message than aiohttp's whole request
    (docs/benchmarks.md); the SDK does its own auth and never wants cookies or redirects. pytest-httpx patches
    the transport, so it sees exactly these requests. The full ``client.request`` path is used
    instead when ``lean=False``, when the SDK asks to follow redirects, or when the given client has
    ``auth`` or event hooks configured (which the lean path would skip).

    No retries here: a 429 or 5xx surfaces as the SDK's ``TwilioRestException``, a transport failure
    as an ``httpx`` exception; ``errors.translate`` classifies both.
    """

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        api_base: str | None = FROM_ENV,
        timeout: float | None = None,
        transport: str | None = None,
        max_in_flight: int = 256,
        lean: bool = True,
        logger: logging.Logger = _logger,
    ) -> None:
        super().__init__(logger, True, timeout)
        self._owns_client = client is None
        self.client = (
            client if client is not None else build_httpx_client(transport, max_in_flight=max_in_flight)
        )
        if api_base is FROM_ENV:
            api_base = os.environ.get(API_BASE_ENV) or None
        self.api_base = _normalise_api_base(api_base)
        hooks = self.client.event_hooks
        self.lean = (
            lean
            and hasattr(self.client, "_transport_for_url")
            and self.client.auth is None
            and not hooks.get("request")
            and not hooks.get("response")
        )
        # Lower-case keys so the SDK's headers replace the client's defaults instead of doubling them.
        self._base_headers = {k.lower(): v for k, v in self.client.headers.items()}
        self._auth_cache: dict[tuple[str, str], str] = {}
        self._url_cache: dict[str, tuple[httpx.URL, str | None]] = {}
        self._transports: dict[tuple[bytes, bytes, int | None], httpx.AsyncBaseTransport] = {}
        self._timeouts: dict[float | None, dict[str, float | None]] = {}

    def rewrite_url(self, url: str) -> tuple[str, str | None]:
        """Return (url to request, original host if it was rewritten)."""
        if self.api_base is None:
            return url, None
        parts = urlsplit(url)
        host = parts.hostname or ""
        if not _is_twilio_host(host):
            return url, None
        new = self.api_base + parts.path
        if parts.query:
            new += "?" + parts.query
        return new, host

    def _target(self, url: str) -> tuple[httpx.URL, str | None]:
        cached = self._url_cache.get(url)
        if cached is None:
            new, host = self.rewrite_url(url)
            cached = (httpx.URL(new), host)
            if len(self._url_cache) >= _URL_CACHE_SIZE:
                self._url_cache.clear()
            self._url_cache[url] = cached
        return cached

    def _timeout_ext(self, timeout: float | None) -> dict[str, float | None]:
        ext = self._timeouts.get(timeout)
        if ext is None:
            ext = (httpx.Timeout(timeout) if timeout is not None else self.client.timeout).as_dict()
            self._timeouts[timeout] = ext
        return ext

    def _transport_for(self, url: httpx.URL) -> httpx.AsyncBaseTransport:
        key = (url.raw_scheme, url.raw_host, url.port)
        transport = self._transports.get(key)
        if transport is None:
            transport = self._transports[key] = self.client._transport_for_url(url)
        return transport

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 -- the SDK's signature
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        target, original_host = self._target(url)
        request_headers = self._base_headers.copy()
        if headers:
            for key, value in headers.items():
                request_headers[key.lower()] = value
        if original_host is not None:
            request_headers["x-twilio-host"] = original_host
        if auth is not None:
            value = self._auth_cache.get(auth)
            if value is None:
                value = self._auth_cache[auth] = _basic_auth(*auth)
            request_headers["authorization"] = value
        body: dict[str, Any] = {}
        if data:
            content_type = request_headers.get("content-type", "")
            if content_type.startswith(("application/json", "application/scim+json")):
                body["json"] = data
            else:
                body["data"] = data
        method = method.upper()
        if timeout is None:
            timeout = self.timeout
        if self.lean and not allow_redirects:
            request = httpx.Request(
                method,
                target,
                params=params,  # type: ignore[arg-type]
                headers=request_headers,
                extensions={"timeout": self._timeout_ext(timeout)},
                **body,
            )
            try:
                response = await self._transport_for(target).handle_async_request(request)
            except httpx.HTTPError as exc:
                if exc._request is None:
                    exc.request = request
                raise
            try:
                if "content-encoding" in response.headers:
                    content = await response.aread()
                else:  # identity body: skip httpx's decoder and chunker chain (docs/benchmarks.md)
                    content = b"".join([chunk async for chunk in response.stream])  # type: ignore[union-attr]
            finally:
                await response.aclose()
        else:
            response = await self.client.request(
                method,
                target,
                params=params,  # type: ignore[arg-type]
                headers=request_headers,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                follow_redirects=allow_redirects,
                **body,
            )
            content = response.content
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug("%s %s -> %s", method, target, response.status_code)
        return TwilioResponse(response.status_code, _text(content, response), response.headers)

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    close = aclose

    async def __aenter__(self) -> HttpxTwilioClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
