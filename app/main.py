"""create_app(): lifespan, middleware, routers, error handlers — nothing else."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.alerts.router import router as alerts_router
from app.audience.router import router as audience_router
from app.audit.router import router as audit_router
from app.campaigns.router import router as campaigns_router
from app.company.router import router as company_router
from app.config import Settings
from app.db import Database
from app.errors import install_error_handlers
from app.flows.router import router as flows_router
from app.inbox.router import router as inbox_router
from app.links.clicks import ClickRecorder
from app.links.router import TrackedLinks
from app.ops.docs import router as docs_router
from app.ops.headers import SingleAuthorization
from app.ops.idempotency import IdempotencyMiddleware
from app.ops.limits import BodySizeLimit
from app.ops.metrics import MetricsMiddleware
from app.ops.router import router as ops_router
from app.ops.sanity import InputSanity
from app.opspage.router import router as ops_page_router
from app.providers import Provider, build_provider
from app.reports.router import router as reports_router
from app.senders.router import router as senders_router
from app.signup.router import router as signup_router
from app.targeting.router import router as segments_router
from app.users.router import router as users_router
from app.webhooks.router import TwilioWebhooks

INBOUND_POOL_SIZE, INBOUND_POOL_OVERFLOW = 4, 4  # the inbound webhook's own connections (PostgreSQL)


def create_app(
    settings: Settings | None = None, *, database: Database | None = None, provider: Provider | None = None
) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        db = database or Database.from_url(settings.database_url)
        app.state.db = db
        # STOPs and other inbound texts on connections of their own (app/webhooks/router.py): never a
        # pool checkout behind the status callbacks' group commit or the API's other requests.
        inbound_db = db if database is not None or settings.is_sqlite else Database.from_url(
            settings.database_url, pool_size=INBOUND_POOL_SIZE, max_overflow=INBOUND_POOL_OVERFLOW)
        app.state.inbound_db = inbound_db
        app.state.provider = provider or build_provider(settings)
        app.state.clicks = ClickRecorder(db, batch=settings.link_click_batch, buffer=settings.link_click_buffer,
                                         preview_seconds=settings.link_preview_seconds)
        worker_task = None
        if settings.worker_mode == "inline":
            from app.worker import run_worker

            stop = asyncio.Event()
            worker_task = asyncio.create_task(run_worker(settings, stop=stop, db=db, provider=app.state.provider))
        try:
            yield
        finally:
            if worker_task is not None:
                stop.set()
                await worker_task
            await app.state.clicks.aclose()  # what the redirects answered is written before the engine goes
            if provider is None:
                await app.state.provider.aclose()
            if database is None:
                if inbound_db is not db:
                    await inbound_db.dispose()
                await db.dispose()

    # /docs and /redoc come from app/ops/docs.py: assets served here, never from a CDN.
    app = FastAPI(title="Fineline", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    if database is not None:
        app.state.db = app.state.inbound_db = database
    if provider is not None:
        app.state.provider = provider
    install_error_handlers(app)
    app.add_middleware(InputSanity)
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes, large_limit=settings.max_import_bytes)
    app.add_middleware(SingleAuthorization)  # before anything reads the key
    app.add_middleware(MetricsMiddleware)
    # The Twilio webhooks outermost, answered before any other middleware and FastAPI's routing
    # (app/webhooks/router.py): a full-speed send brings thousands of status callbacks a second.
    app.add_middleware(TwilioWebhooks, settings=settings)
    # Tracked links (GET /<token>) outermost of all: the hottest public route (app/links/router.py).
    app.add_middleware(TrackedLinks, settings=settings)
    for router in (ops_router, users_router, company_router, flows_router, senders_router, audience_router,
                   campaigns_router, segments_router, reports_router, alerts_router, inbox_router, audit_router,
                   ops_page_router, signup_router, docs_router):
        app.include_router(router)
    return app
