from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.db import migrations
from app.ops.metrics import REGISTRY

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz():
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request):
    """Ready when the database answers and its schema is at the migrations' head."""
    db = request.app.state.db
    try:
        async with db.session() as session:
            await session.execute(text("SELECT 1"))
            current = await migrations.current_revisions(await session.connection())
    except Exception as exc:  # the database is down or unreachable
        return JSONResponse({"status": "unavailable", "database": f"unreachable: {type(exc).__name__}"}, status_code=503)
    head = set(migrations.heads())
    if current != head:
        return JSONResponse(
            {"status": "unavailable", "database": "reachable", "migrations": {"current": sorted(current), "head": sorted(head)}},
            status_code=503,
        )
    return {"status": "ok", "database": "reachable", "migrations": {"current": sorted(current), "head": sorted(head)}}


@router.get("/metrics")
async def metrics():
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
