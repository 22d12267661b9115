"""Reading catalog files: YAML or JSON, numbers kept exact (never through binary floats)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from rebill.domain.errors import FieldError, ValidationError

# Numbers as a person writes them in a price list: YAML 1.1 also reads 010 as 8 (octal), 0x10,
# 3:20 (base 60) and 4_9 as numbers; here they are refused rather than read as another value.
_WHOLE = re.compile(r"^[-+]?(0|[1-9][0-9]*)$", re.ASCII)
_DECIMAL = re.compile(r"^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$", re.ASCII)
# Digits in one number, and levels of nesting, beyond any catalog's.
number_digits_max = 40
depth_max = 32


def _refused(node: yaml.Node, problem: str) -> yaml.constructor.ConstructorError:
    return yaml.constructor.ConstructorError(None, None, problem, node.start_mark)


class _ExactLoader(yaml.SafeLoader):
    """YAML loader that reads `49.00` as Decimal('49.00'), the exact text written; refuses a
    number written in another base or with separators, and a key given twice in one mapping
    (which of the two would count?)."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if isinstance(key, str | int) and key in seen:
                    raise _refused(key_node, f"{key!r} is given twice in this mapping")
                if isinstance(key, str | int):
                    seen.add(key)
        return super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]


def _exact_float(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    text = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    if len(text) > number_digits_max or not _DECIMAL.match(text):
        raise _refused(node, f"{text[:number_digits_max]!r} is not a decimal number like 12.50")
    return Decimal(text)


def _exact_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    text = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    if len(text) > number_digits_max or not _WHOLE.match(text):
        shown = text[:number_digits_max]
        raise _refused(node, f"{shown!r} is not a whole number written in base 10 (quote it)")
    return int(text)


_ExactLoader.add_constructor("tag:yaml.org,2002:float", _exact_float)
_ExactLoader.add_constructor("tag:yaml.org,2002:int", _exact_int)


def _json_int(text: str) -> int:
    if len(text) > number_digits_max:
        raise ValueError(f"{text[:number_digits_max]}… has more than {number_digits_max} digits")
    return int(text)


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValueError(f"{key!r} is given twice in one object")
        document[key] = value
    return document


def _deep(value: Any, depth: int = 0) -> bool:
    """Nested deeper than `depth_max` (or referring to itself through a YAML alias)?"""
    if depth > depth_max:
        return True
    if isinstance(value, dict):
        return any(_deep(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(_deep(v, depth + 1) for v in value)
    return False


def load_document(path: Path) -> Any:
    """The catalog file as plain values (numbers as exact Decimals), or a ValidationError that
    names the file and where in it, never a traceback."""
    name = str(path)
    if not path.exists():
        raise ValidationError([FieldError(name, "no such file")], "cannot read catalog")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problem = exc.strerror or str(exc)
        raise ValidationError([FieldError(name, problem)], "cannot read catalog") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problem = f"is not UTF-8 text (byte {exc.start + 1})"
        raise ValidationError([FieldError(name, problem)], "cannot read catalog") from None
    document = _parse(name, text, path.suffix.lower() == ".json")
    if _deep(document):
        problem = f"is nested deeper than {depth_max} levels (or refers to itself)"
        raise ValidationError([FieldError(name, problem)], "invalid catalog")
    return document


def _parse(name: str, text: str, is_json: bool) -> Any:
    if is_json:
        try:
            return json.loads(
                text, parse_float=Decimal, parse_int=_json_int, object_pairs_hook=_json_object
            )
        except json.JSONDecodeError as exc:
            raise ValidationError(
                [FieldError(f"{name}:{exc.lineno}:{exc.colno}", exc.msg)], "invalid JSON"
            ) from None
        except ValueError as exc:
            raise ValidationError([FieldError(name, str(exc))], "invalid JSON") from None
        except RecursionError:
            problem = f"is nested deeper than {depth_max} levels"
            raise ValidationError([FieldError(name, problem)], "invalid JSON") from None
    try:
        return yaml.load(text, Loader=_ExactLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        problem = getattr(exc, "problem", None) or str(exc)
        raise ValidationError([FieldError(where, str(problem))], "invalid YAML") from None
    except RecursionError:
        problem = f"is nested deeper than {depth_max} levels"
        raise ValidationError([FieldError(name, problem)], "invalid YAML") from None
