"""/docs and /redoc with every script and stylesheet served from here, never from a CDN.

The ops page on this same origin keeps an API key in the tab's sessionStorage; a script loaded from
someone else's server into /docs could read it (same origin, same tab after a click). The assets
come from the ``fastapi-offline`` package (Swagger UI and ReDoc, MIT, kept current), and the pages
carry a Content-Security-Policy that allows scripts from this origin plus the one inline start-up
script (by its hash), and no framing.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response

router = APIRouter(include_in_schema=False)
ASSETS = Path(fastapi_offline.__file__).parent / "static"
SERVED = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def no_framing_headers(csp: str) -> dict[str, str]:
    """A page's CSP with ``frame-ancestors 'none'``, and X-Frame-Options for older browsers."""
    return {"Content-Security-Policy": f"{csp}; frame-ancestors 'none'", "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


@cache
def _page(kind: str, title: str, openapi_url: str) -> tuple[bytes, dict[str, str]]:
    if kind == "swagger":
        html = get_swagger_ui_html(openapi_url=openapi_url, title=f"{title} - Swagger UI",
                                   swagger_js_url="/docs/assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs/assets/swagger-ui.css",
                                   swagger_favicon_url="/docs/assets/favicon.png").body
    else:
        html = get_redoc_html(openapi_url=openapi_url, title=f"{title} - ReDoc",
                              redoc_js_url="/docs/assets/redoc.standalone.js", with_google_fonts=False,
                              redoc_favicon_url="/docs/assets/favicon.png").body
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
                      for script in _INLINE_SCRIPT.findall(html.decode()))
    csp = (f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
           "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'")
    return html, no_framing_headers(csp)


@router.get("/docs")
async def swagger_ui(request: Request):
    body, headers = _page("swagger", request.app.title, request.app.openapi_url)
    return HTMLResponse(body, headers=headers)


@router.get("/redoc")
async def redoc(request: Request):
    body, headers = _page("redoc", request.app.title, request.app.openapi_url)
    return HTMLResponse(body, headers=headers)


@router.get("/docs/assets/{name}")
async def asset(name: str):
    if name not in SERVED:
        return Response(status_code=404)
    return FileResponse(ASSETS / name, headers={"Cache-Control": "public, max-age=86400"})
