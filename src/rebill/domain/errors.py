"""The tree of expected failures. Entry points map it once: to CLI exit codes and to HTTP problems.

    BillingError
    ├── ValidationError(field_errors)   bad input; every problem with its location
    ├── NotFoundError                   an id that does not exist (in the caller's tenant)
    ├── ForbiddenFieldError(path)       a caller set a field another party owns
    ├── ConflictError                   a state that forbids the operation (period open, ...)
    ├── InsufficientCreditsError        a wallet cannot pay
    ├── TaxNotConfiguredError           Stripe Tax is not ready on the agency's account
    ├── GatewayError                    a payment provider failed (provider, code, retryable)
    ├── TooManyAttemptsError            this caller must wait before trying again (sign-in)
    └── BusyError                       the server is at capacity for this kind of work

`assert` is kept for programmer errors; input never reaches an assert.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One problem with one piece of input: where (file, line, path), which field, and what."""

    location: str
    message: str
    field: str | None = None

    def __str__(self) -> str:
        where = self.location
        if self.field:
            where = f"{where}: {self.field}" if where else self.field
        return f"{where}: {self.message}" if where else self.message


class BillingError(Exception):
    """Base of every expected failure; `code` is stable and machine-readable."""

    code = "billing_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(BillingError):
    code = "invalid_input"

    def __init__(self, field_errors: list[FieldError], summary: str = "invalid input") -> None:
        self.field_errors = list(field_errors)
        detail = "\n".join(str(e) for e in self.field_errors)
        super().__init__(f"{summary}:\n{detail}" if detail else summary)
        self.summary = summary


class NotFoundError(BillingError):
    code = "not_found"


class ForbiddenFieldError(BillingError):
    """The caller may not change this field: the platform owns it, or the caller's role may
    not set it. `path` is where it sits in the caller's document."""

    code = "forbidden_field"

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class ConflictError(BillingError):
    code = "conflict"


class InsufficientCreditsError(BillingError):
    code = "insufficient_credits"


class TaxNotConfiguredError(BillingError):
    code = "tax_not_configured"

    def __init__(self, missing_fields: list[str], fixes: list[str]) -> None:
        text = "Stripe Tax is not configured on the agency's account"
        if missing_fields:
            text += "; missing: " + ", ".join(missing_fields)
        super().__init__(text)
        self.missing_fields = list(missing_fields)
        self.fixes = list(fixes)


class GatewayError(BillingError):
    code = "gateway_error"

    def __init__(self, provider: str, gateway_code: str, message: str, retryable: bool) -> None:
        super().__init__(f"{provider}: {message} ({gateway_code})")
        self.provider = provider
        self.gateway_code = gateway_code
        self.retryable = retryable


class TooManyAttemptsError(BillingError):
    """Too many recent failures (of an account or from an address): wait, then try again."""

    code = "too_many_attempts"

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"too many attempts; try again in {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


class BusyError(BillingError):
    """Every slot for this work is taken and its queue is full: try again shortly."""

    code = "busy"

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"the server is busy; try again in {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


class ConcurrentWriteError(BusyError):
    """Another transaction wrote the same rows at the same moment (a unique key taken first, a
    serialization failure, a deadlock) and the work was rolled back whole: try it again."""

    code = "concurrent_write"

    def __init__(self, retry_after_seconds: int = 1) -> None:
        super().__init__(retry_after_seconds)
        self.args = (
            "another request wrote the same records at the same moment; nothing was kept, "
            f"try again in {retry_after_seconds} s",
        )
