"""Reading catalog files: YAML or JSON, numbers kept exact (never through binary floats)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from rebill.domain.errors import FieldError, ValidationError


class _ExactLoader(yaml.SafeLoader):
    """YAML loader that reads `49.00` as Decimal('49.00'), the exact text written."""


def _exact_float(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    text = loader.construct_scalar(node)  # type: ignore[arg-type]
    try:
        return Decimal(str(text).replace("_", ""))
    except ArithmeticError:
        raise yaml.constructor.ConstructorError(
            None, None, f"{text!r} is not a number", node.start_mark
        ) from None


_ExactLoader.add_constructor("tag:yaml.org,2002:float", _exact_float)


def load_document(path: Path) -> Any:
    name = str(path)
    if not path.exists():
        raise ValidationError([FieldError(name, "no such file")], "cannot read catalog")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                [FieldError(f"{name}:{exc.lineno}:{exc.colno}", exc.msg)], "invalid JSON"
            ) from None
    try:
        return yaml.load(text, Loader=_ExactLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        problem = getattr(exc, "problem", None) or str(exc)
        raise ValidationError([FieldError(where, str(problem))], "invalid YAML") from None
