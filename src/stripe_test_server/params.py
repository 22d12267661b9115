"""Checks each request's parameters against the request types the `stripe` package ships
(`stripe.params.*CreateParams` TypedDicts, or `stripe.<Resource>.CreateParams` in older SDKs):
an unknown parameter answers 400 `parameter_unknown`, a missing required one
`parameter_missing`, a malformed integer `parameter_invalid_integer`, like Stripe does.
Without the `stripe` package the check is skipped (logged once)."""

from __future__ import annotations

import importlib
import logging
import re
import threading
import types
import typing
from typing import Any

from stripe_test_server.errors import ApiError, param_error

log = logging.getLogger(__name__)

_INTEGER = re.compile(r"^-?\d+$")
_DECIMAL = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)$")
# Keys of the SDK's RequestOptions: they travel as headers, never as body parameters.
_OPTION_KEYS = frozenset(
    {
        "api_key",
        "stripe_version",
        "stripe_account",
        "stripe_context",
        "max_network_retries",
        "idempotency_key",
        "content_type",
        "headers",
    }
)


def _is_typeddict(tp: Any) -> bool:
    return (
        isinstance(tp, type)
        and issubclass(tp, dict)
        and hasattr(tp, "__required_keys__")
        and hasattr(tp, "__annotations__")
    )


class ParamChecker:
    """Resolves SDK param types lazily and validates decoded params against them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hints: dict[Any, dict[str, Any]] = {}
        self._types: dict[tuple[str, ...], Any] = {}
        self.sdk_version: str | None = None
        try:
            self._stripe: types.ModuleType | None = importlib.import_module("stripe")
            self.sdk_version = str(getattr(self._stripe, "VERSION", "unknown"))
        except ImportError:
            self._stripe = None
            log.warning(
                "stripe test server: the `stripe` package is not installed; "
                "request parameters are not checked against the SDK's types"
            )

    @property
    def enabled(self) -> bool:
        return self._stripe is not None

    # -- type resolution -------------------------------------------------------------------
    def _resolve(self, candidates: tuple[str, ...]) -> Any:
        with self._lock:
            if candidates in self._types:
                return self._types[candidates]
        found: Any = None
        for dotted in candidates:
            found = self._resolve_one(dotted)
            if found is not None:
                break
        if found is None and self.enabled:
            log.warning("stripe test server: no SDK param type among %s", candidates)
        with self._lock:
            self._types[candidates] = found
        return found

    def _resolve_one(self, dotted: str) -> Any:
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                target: Any = importlib.import_module("stripe." + ".".join(parts[:cut]))
            except ImportError:
                continue
            try:
                for attribute in parts[cut:]:
                    target = getattr(target, attribute)
            except AttributeError:
                return None
            return target if _is_typeddict(target) else None
        if self._stripe is None:
            return None
        target = self._stripe
        try:
            for attribute in parts:
                target = getattr(target, attribute)
        except AttributeError:
            return None
        return target if _is_typeddict(target) else None

    def _fields(self, tp: Any) -> dict[str, Any]:
        with self._lock:
            cached = self._hints.get(tp)
        if cached is not None:
            return cached
        annotations = {
            k: v for k, v in getattr(tp, "__annotations__", {}).items() if k not in _OPTION_KEYS
        }
        # A throwaway class in the TypedDict's module: its forward references resolve there,
        # without evaluating RequestOptions' TYPE_CHECKING-only names.
        holder = type("_Holder", (), {"__annotations__": annotations, "__module__": tp.__module__})
        try:
            hints = typing.get_type_hints(holder)
        except Exception:  # pragma: no cover - an SDK whose annotations do not evaluate
            log.exception("stripe test server: cannot evaluate %s", tp)
            hints = {k: Any for k in annotations}
        with self._lock:
            self._hints[tp] = hints
        return hints

    # -- validation ------------------------------------------------------------------------
    def check(self, candidates: tuple[str, ...] | None, params: dict[str, Any]) -> None:
        """Raise ApiError (400) when params do not fit the SDK type named by candidates."""
        if not candidates or not self.enabled:
            return
        tp = self._resolve(candidates)
        if tp is None:
            return
        error = self._check_typeddict(tp, params, "")
        if error is not None:
            raise error

    def _check_typeddict(self, tp: Any, value: Any, path: str) -> ApiError | None:
        if not isinstance(value, dict):
            return param_error("Invalid hash", path) if path else None
        fields = self._fields(tp)
        for key in value:
            if key not in fields:
                name = f"{path}[{key}]" if path else key
                return param_error(
                    f"Received unknown parameter: {name}", name, code="parameter_unknown"
                )
        required = set(getattr(tp, "__required_keys__", ())) - _OPTION_KEYS
        for key in sorted(required):
            if key not in value:
                name = f"{path}[{key}]" if path else key
                return param_error(
                    f"Missing required param: {name}.", name, code="parameter_missing"
                )
        for key, item in value.items():
            name = f"{path}[{key}]" if path else key
            error = self._check(fields[key], item, name)
            if error is not None:
                return error
        return None

    def _check(self, tp: Any, value: Any, path: str) -> ApiError | None:
        origin = typing.get_origin(tp)
        if tp is Any or tp is object:
            return None
        if origin is typing.Union or origin is types.UnionType:
            return self._check_union(typing.get_args(tp), value, path)
        if origin is typing.Literal:
            allowed = [str(a) for a in typing.get_args(tp)]
            if isinstance(value, str) and value in allowed:
                return None
            return param_error(f"Invalid {path}: must be one of {_one_of(allowed)}", path)
        if _is_typeddict(tp):
            return self._check_typeddict(tp, value, path)
        if origin in (list, typing.List):  # noqa: UP006
            if isinstance(value, dict) and all(k.isdigit() for k in value):
                value = [value[k] for k in sorted(value, key=int)]
            if not isinstance(value, list):
                return param_error("Invalid array", path)
            (inner,) = typing.get_args(tp) or (Any,)
            for index, item in enumerate(value):
                error = self._check(inner, item, f"{path}[{index}]")
                if error is not None:
                    return error
            return None
        if origin in (dict, typing.Dict) or _is_mapping_type(tp):  # noqa: UP006
            if value == "":  # Stripe unsets a whole map (metadata) with an empty value
                return None
            if not isinstance(value, dict):
                return param_error("Invalid hash", path)
            args = typing.get_args(tp)
            inner = args[1] if len(args) == 2 else Any
            for key, item in value.items():
                error = self._check(inner, item, f"{path}[{key}]")
                if error is not None:
                    return error
            return None
        if tp is bool:
            if value in ("true", "false"):
                return None
            return param_error(f"Invalid boolean: {_show(value)}", path)
        if tp is int:
            if isinstance(value, str) and _INTEGER.match(value):
                return None
            return param_error(
                f"Invalid integer: {_show(value)}", path, code="parameter_invalid_integer"
            )
        if tp is float:
            if isinstance(value, str) and _DECIMAL.match(value):
                return None
            return param_error(f"Invalid decimal: {_show(value)}", path)
        if tp is str:
            if isinstance(value, str):
                return None
            return param_error(f"Invalid string: {_show(value)}", path)
        return None  # a type this checker does not know: accepted

    def _check_union(self, members: tuple[Any, ...], value: Any, path: str) -> ApiError | None:
        errors: list[tuple[int, ApiError]] = []
        for member in members:
            error = self._check(member, value, path)
            if error is None:
                return None
            # Prefer the error of the member of the value's own shape (hash, array, scalar).
            shape_matches = (
                (isinstance(value, dict) and (_is_typeddict(member) or _is_container(member)))
                or (isinstance(value, list) and typing.get_origin(member) in (list, typing.List))  # noqa: UP006
            )
            errors.append((0 if shape_matches else 1, error))
        errors.sort(key=lambda pair: pair[0])
        return errors[0][1] if errors else None


def _is_container(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    return origin in (dict, typing.Dict) or _is_mapping_type(tp)  # noqa: UP006


def _is_mapping_type(tp: Any) -> bool:
    """The SDK's UntypedStripeObject[...] and similar mapping-like generics."""
    origin = typing.get_origin(tp) or tp
    return isinstance(origin, type) and origin.__name__ == "UntypedStripeObject"


def _one_of(values: list[str]) -> str:
    if len(values) <= 1:
        return "".join(values)
    return ", ".join(values[:-1]) + f", or {values[-1]}"


def _show(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)
