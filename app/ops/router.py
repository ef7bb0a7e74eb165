from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.config import is_loopback_host
from app.errors import Forbidden, Unauthorized
from app.ops import service
from app.ops.metrics import REGISTRY

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz():
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request):
    """Ready when the database answers and its schema is at the migrations' head."""
    ready, report = await service.readiness(request.app.state.db)
    return report if ready else JSONResponse(report, status_code=503)


@router.get("/metrics")
async def metrics(request: Request):
    """Prometheus text. Request counts by route and status, queue depth and per-sender volumes tell
    an outsider how busy the company is: with FINELINE_METRICS_TOKEN set, a scraper sends it as a
    bearer token; without one, only clients on this machine (loopback) are answered."""
    settings = request.app.state.settings
    if settings.metrics_token is not None:
        supplied = request.headers.get("authorization", "").partition(" ")[2].strip()
        if not hmac.compare_digest(supplied.encode(), settings.metrics_token.get_secret_value().encode()):
            raise Unauthorized("/metrics needs 'Authorization: Bearer <FINELINE_METRICS_TOKEN>'")
    elif not is_loopback_host(request.client.host if request.client else None):
        raise Forbidden("/metrics answers only this machine unless FINELINE_METRICS_TOKEN is set for scrapers")
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
