"""Decoding of Stripe's form encoding: `a[b][c]=v`, `items[0][x]=v`, `expand[]=v`."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
# Maps whose keys are free-form, never turned into lists even when keyed by digits.
MAP_KEYS = frozenset({"metadata"})


def _segments(key: str) -> list[str]:
    match = _KEY.match(key)
    if not match:
        return [key]
    return [match.group(1), *_SEGMENT.findall(match.group(2))]


def _insert(tree: dict[str, Any], path: list[str], value: str) -> None:
    node: dict[str, Any] = tree
    for index, segment in enumerate(path):
        last = index == len(path) - 1
        name = segment
        if name == "":  # `a[]=v`: append
            name = str(sum(1 for k in node if k.isdigit()))
        if last:
            node[name] = value
            return
        child = node.get(name)
        if not isinstance(child, dict):
            child = {}
            node[name] = child
        node = child


def _listify(value: Any, parent: str | None) -> Any:
    if not isinstance(value, dict):
        return value
    converted = {k: _listify(v, k) for k, v in value.items()}
    if (
        converted
        and parent not in MAP_KEYS
        and all(k.isdigit() for k in converted)
        and sorted(int(k) for k in converted) == list(range(len(converted)))
    ):
        return [converted[str(i)] for i in range(len(converted))]
    return converted


def decode(raw: str) -> dict[str, Any]:
    """Nested params from a form-encoded body or query string (all leaves are strings)."""
    tree: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        _insert(tree, _segments(key), value)
    return {key: _listify(value, key) for key, value in tree.items()}
