"""Prometheus metrics. Every metric Fineline exports is declared here, in one registry."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "fineline_http_requests_total", "HTTP requests by route and status", ["method", "route", "status"], registry=REGISTRY
)
HTTP_LATENCY = Histogram(
    "fineline_http_request_duration_seconds",
    "HTTP request latency by route",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)


class MetricsMiddleware:
    """Counts requests and their latency by route template (``/v1/users/{user_id}``), not raw path,
    so the label set stays bounded whatever clients send."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(method, template, str(status_holder["status"])).inc()
            HTTP_LATENCY.labels(method, template).observe(time.perf_counter() - started)

MESSAGES = Counter("fineline_messages_total", "Campaign messages by the state a batch left them in", ["state"],
                   registry=REGISTRY)
PROVIDER_LATENCY = Histogram(
    "fineline_provider_request_seconds", "Provider send latency",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 15), registry=REGISTRY,
)
SENDER_SENDS = Counter("fineline_sender_sends_total", "Messages accepted by the provider, per sender", ["sender_id"],
                       registry=REGISTRY)
QUEUE_DEPTH = Gauge("fineline_queue_depth",
                    "Campaign messages waiting to be claimed (queued, not held) at the last worker pass, "
                    "counted up to 100,000",
                    registry=REGISTRY)
LINK_CLICKS = Counter("fineline_link_clicks_total",
                      "Tracked-link clicks by what became of them: recorded (by kind), dropped (buffer full or "
                      "the database failed them three times)", ["outcome"], registry=REGISTRY)
