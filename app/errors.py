"""Typed errors that carry their HTTP status, and the one place that renders every error.

Domain code raises these; it never builds HTTP responses. Every answer that is not a success has
the shape ``{"error": {"code", "message", "details"}}`` (docs/api.md, Conventions).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class AppError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class NotFound(AppError):
    status = 404
    code = "not_found"


class Conflict(AppError):
    """The resource's state forbids the action."""

    status = 409
    code = "conflict"


class Invalid(AppError):
    """Input that is well-formed but not acceptable; names the field in ``details``."""

    status = 422
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None, details: Any = None):
        if details is None and field is not None:
            details = [{"field": field, "message": message}]
        super().__init__(message, code=code, details=details)


class ProviderFailed(AppError):
    """The SMS provider could not be asked, or did not accept the request."""

    status = 502
    code = "provider_error"


class TooManyRequests(AppError):
    status = 429
    code = "too_many_requests"


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"


def error_body(code: str, message: str, details: Any = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details}}


def _field_name(loc: tuple | list) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[0] if loc else "body")


def _validation_details(exc: RequestValidationError) -> tuple[str, str, list[dict]]:
    details = []
    code = "validation_error"
    for err in exc.errors():
        field = _field_name(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            code = "invalid_json"
            details.append({"field": "body", "message": f"the body is not valid JSON: {err.get('ctx', {}).get('error', err.get('msg'))}"})
            continue
        details.append({"field": field, "message": err.get("msg", "invalid value")})
    first = details[0] if details else {"field": "body", "message": "invalid request"}
    message = first["message"] if first["field"] == "body" else f"{first['field']}: {first['message']}"
    return code, message, details


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        code, message, details = _validation_details(exc)
        return JSONResponse(error_body(code, message, details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        message = {
            404: f"no route {request.method} {request.url.path}",
            405: f"{request.method} is not allowed on {request.url.path}",
        }.get(exc.status_code, str(exc.detail))
        return JSONResponse(
            error_body(codes.get(exc.status_code, "http_error"), message),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        # Two identical requests at the same instant: the database's unique keys decide; the loser
        # gets a clear 409 (its transaction was rolled back, nothing half-written).
        return JSONResponse(error_body("conflict", "this conflicts with a record created at the same time; "
                                                   "fetch it or retry"), status_code=409)

    @app.exception_handler(OperationalError)
    async def _busy(request: Request, exc: OperationalError) -> JSONResponse:
        if "locked" in str(exc.orig).lower():  # SQLite's single writer was busy for too long
            return JSONResponse(error_body("busy", "the database is busy; retry shortly"), status_code=503,
                                headers={"Retry-After": "1"})
        log.exception("database error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("database_unavailable", "the database is unavailable; retry shortly"),
                            status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:  # pragma: no cover - safety net
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", "an unexpected error occurred"), status_code=500)
