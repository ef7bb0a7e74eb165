"""/ops, the page ops people watch, and /inbox, where agents answer customers. Server-rendered HTML
and a little JavaScript each, no build step, one style sheet.

The page asks for an API key (kept in the tab's sessionStorage, sent only as a Bearer header,
never in a URL), follows ``GET /v1/alerts/stream`` through fetch (EventSource cannot send headers),
reconnecting with ``Last-Event-ID`` so nothing is missed across a drop, and polls campaigns and
senders. Controls a user's roles do not allow are never drawn. /inbox works the same way with
``GET /v1/conversations/stream``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from app.ops.docs import no_framing_headers

router = APIRouter(tags=["ops page"], include_in_schema=False)
STATIC = Path(__file__).parent / "static"


def _page(name: str) -> HTMLResponse:
    # Never framed: a page holding an API key must not be overlaid by another site (clickjacking).
    return HTMLResponse((STATIC / name).read_text(encoding="utf-8"),
                        headers={"Cache-Control": "no-store", **no_framing_headers(
                            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:")})


@router.get("/ops", response_class=HTMLResponse)
async def ops_page():
    return _page("ops.html")


@router.get("/inbox", response_class=HTMLResponse)
async def inbox_page():
    return _page("inbox.html")


@router.get("/ops/static/{name}")
async def ops_static(name: str):
    path = (STATIC / name).resolve()
    if path.parent != STATIC.resolve() or not path.is_file():
        return HTMLResponse("not found", status_code=404)
    return FileResponse(path, headers={"Cache-Control": "no-store"})
