"""Stripe-shaped API errors: `{"error": {"type", "code", "message", "param", ...}}`."""

from __future__ import annotations

from typing import Any

DOC_BASE = "https://stripe.com/docs/error-codes/"


class ApiError(Exception):
    """An error answered to the client with Stripe's JSON error body."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        saved: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param
        self.extra = extra or {}
        self.headers = headers or {}
        # Whether an idempotency key keeps this answer (Stripe keeps answers of requests that
        # started executing, not those refused while validating the parameters).
        self.saved = saved

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = DOC_BASE + self.code
        if self.param:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}


def invalid_request(
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    status: int = 400,
    saved: bool = True,
) -> ApiError:
    return ApiError(status, "invalid_request_error", message, code=code, param=param, saved=saved)


def param_error(message: str, param: str, code: str | None = None) -> ApiError:
    """A parameter validation failure: not kept by idempotency keys."""
    return invalid_request(message, param=param, code=code, saved=False)


def no_such(label: str, object_id: str, *, param: str = "id", status: int = 404) -> ApiError:
    return invalid_request(
        f"No such {label}: '{object_id}'", param=param, code="resource_missing", status=status
    )
