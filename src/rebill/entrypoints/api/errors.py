"""The one mapping from failures to HTTP: RFC 9457 problem details with a stable `code`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from rebill.domain.errors import (
    BillingError,
    BusyError,
    ConflictError,
    ForbiddenFieldError,
    GatewayError,
    InsufficientCreditsError,
    NotFoundError,
    TaxNotConfiguredError,
    TooManyAttemptsError,
    ValidationError,
)

PROBLEM = "application/problem+json"
database_retry_after_seconds = 1
logger = logging.getLogger("rebill.api")
STATUS: list[tuple[type[BillingError], int]] = [
    (ValidationError, 422),
    (NotFoundError, 404),
    (ForbiddenFieldError, 403),
    (ConflictError, 409),
    (InsufficientCreditsError, 402),
    (TaxNotConfiguredError, 409),
    (GatewayError, 502),
    (TooManyAttemptsError, 429),
    (BusyError, 503),
]
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
    503: "unavailable",
    500: "internal_error",
}


def database_unavailable(exc: BaseException) -> bool:
    """A failure of the database itself, not of the request: a dropped or refused connection,
    an exhausted pool, a lock not granted in time (SQLAlchemy's OperationalError and
    invalidated connections, wherever they are raised)."""
    from sqlalchemy import exc as sql

    if isinstance(exc, sql.OperationalError | sql.TimeoutError | sql.InterfaceError):
        return True
    return isinstance(exc, sql.DBAPIError) and exc.connection_invalidated


def database_problem() -> JSONResponse:
    """503 with Retry-After: the client may send the same request again shortly."""
    return problem(
        503,
        "database_unavailable",
        "the database is unavailable for the moment; send the request again (with the same "
        "Idempotency-Key) after Retry-After seconds",
        headers={"Retry-After": str(database_retry_after_seconds)},
    )


def problem_body(status: int, code: str, detail: str) -> dict[str, Any]:
    """The RFC 9457 members every rebill problem carries."""
    return {
        "type": f"https://rebill.dev/problems/{code}",
        "title": code.replace("_", " "),
        "status": status,
        "detail": detail,
        "code": code,
    }


def problem(
    status: int,
    code: str,
    detail: str,
    param: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = problem_body(status, code, detail)
    if param is not None:
        body["param"] = param
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def billing_problem(error: BillingError) -> JSONResponse:
    status = next((s for t, s in STATUS if isinstance(error, t)), 400)
    if isinstance(error, GatewayError) and error.gateway_code == "not_configured":
        status = 503  # this server has no Stripe key: not the gateway's fault
    param = None
    errors: list[dict[str, Any]] | None = None
    detail = error.message
    if isinstance(error, ValidationError):
        errors = [
            {"param": e.field, "location": e.location, "message": e.message}
            for e in error.field_errors
        ]
        if len(error.field_errors) == 1:
            param = error.field_errors[0].field
            detail = str(error.field_errors[0])
    if isinstance(error, ForbiddenFieldError):
        param = error.path
    if isinstance(error, TaxNotConfiguredError):
        errors = [{"missing": f} for f in error.missing_fields] + [{"fix": f} for f in error.fixes]
    headers = None
    if isinstance(error, TooManyAttemptsError | BusyError):
        headers = {"Retry-After": str(error.retry_after_seconds)}
    return problem(status, error.code, detail, param, errors, headers)


def http_problem(exc: HTTPException) -> JSONResponse:
    code = HTTP_CODES.get(exc.status_code, "error")
    headers = dict(exc.headers) if exc.headers else None
    return problem(exc.status_code, code, str(exc.detail), headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(BillingError)
    async def on_billing(_: Request, exc: BillingError) -> JSONResponse:
        return billing_problem(exc)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"param": ".".join(str(p) for p in e["loc"][1:]) or None, "message": e["msg"]}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"param": None, "message": "invalid request"}
        return problem(
            422, "invalid_input", f"{first['param']}: {first['message']}", first["param"], errors
        )

    @app.exception_handler(HTTPException)
    async def on_http(_: Request, exc: HTTPException) -> JSONResponse:
        return http_problem(exc)

    from sqlalchemy.exc import DBAPIError, TimeoutError

    async def on_database(request: Request, exc: Exception) -> JSONResponse:
        # Answered here (not by the catch-all below, after which the server drops the
        # connection): the client may retry at once on the same connection.
        if not database_unavailable(exc):
            return await on_crash(request, exc)
        logger.warning(
            "database unavailable on %s %s: %s",
            request.method,
            request.url.path,
            type(exc).__name__,
        )
        return database_problem()

    app.add_exception_handler(DBAPIError, on_database)
    app.add_exception_handler(TimeoutError, on_database)

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem(500, "internal_error", "an unexpected error occurred; it was logged")
