"""Reading a request body as JSON with limits: a bounded nesting depth, bounded numbers, no
NaN or Infinity. Anything else is a 422 problem with where it went wrong, never a 500."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from rebill.domain.errors import FieldError, ValidationError

json_depth_max = 32
json_number_digits_max = 40


def _number(text: str) -> Decimal:
    if len(text) > json_number_digits_max:
        raise ValueError(f"a number of at most {json_number_digits_max} characters")
    return Decimal(text)


def _integer(text: str) -> int:
    if len(text) > json_number_digits_max:
        raise ValueError(f"a number of at most {json_number_digits_max} digits")
    return int(text)


def _constant(text: str) -> Any:
    raise ValueError(f"{text} is not a JSON number")


def _depth(document: Any) -> int:
    deepest, stack = 0, [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if depth > json_depth_max:
                return depth
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return deepest


def load_json(raw: bytes) -> Any:
    """The body's JSON document (numbers as exact decimals), or a ValidationError."""
    try:
        document = json.loads(
            raw or b"null", parse_float=_number, parse_int=_integer, parse_constant=_constant
        )
    except json.JSONDecodeError as exc:
        raise ValidationError([FieldError("body", exc.msg, "body")], "invalid JSON") from None
    except (ValueError, RecursionError) as exc:
        message = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        raise ValidationError([FieldError("body", message, "body")], "invalid JSON") from None
    if _depth(document) > json_depth_max:
        raise ValidationError(
            [FieldError("body", f"nested deeper than {json_depth_max} levels", "body")],
            "invalid JSON",
        )
    return document
