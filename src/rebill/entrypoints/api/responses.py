"""What several routers share in their answers: the problem responses of the OpenAPI
document, a period named in a path or query, and CSV bodies."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi.responses import Response

from rebill.domain.errors import FieldError, ValidationError
from rebill.domain.period import Period
from rebill.entrypoints.api import errors, schemas

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": schemas.Problem, "content": {errors.PROBLEM: {}}}
    for status in (400, 401, 403, 404, 409, 422)
}
# Routes that ask the payment gateway: it failed (502), or this server has none (503).
GATEWAY_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": schemas.Problem, "content": {errors.PROBLEM: {}}} for status in (502, 503)
}


def parse_period(text: str) -> Period:
    try:
        return Period.parse(text)
    except ValueError as exc:
        raise ValidationError([FieldError("path", str(exc), "period")]) from None


def csv_response(rows: list[dict[str, Any]]) -> Response:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return Response(buffer.getvalue(), media_type="text/csv")
