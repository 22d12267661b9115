"""Typer's coercion of `str` and `bool` values without pydantic (issue 16).

Typer coerces every parameter's value through a pydantic `TypeAdapter`, built the first time
the parameter is processed, `--help` included: every command imported pydantic (~0.1 s).
For a `str` or a `bool` value of a `str` or `bool` parameter the adapter returns the value
itself; `PlainParam` returns it without one, and hands any other value to Typer's own
coercion. It relies on two of Typer's private names (`_TyperParameter.get_runtime_param`,
`typer._coercion`); tests/unit/test_cli_startup.py fails when pydantic comes back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from typer._coercion import RuntimeParam, build_runtime_param, resolve_type_descriptor
from typer.core import _TyperParameter

if TYPE_CHECKING:
    from typer import _click

PLAIN = (str, bool)


@dataclass(frozen=True)
class PlainParam(RuntimeParam):
    """A `str` or `bool` parameter: a value of that type as it is, anything else to Typer."""

    def _coerce_value(self, value: Any, param: Any, ctx: _click.Context) -> Any:
        if type(value) is self.annotation:
            return value
        descriptor = resolve_type_descriptor(self.annotation, self.parameter_info)
        return build_runtime_param(descriptor)._coerce_value(value, param=param, ctx=ctx)


_typers_runtime_param = _TyperParameter.get_runtime_param


def _runtime_param(self: _TyperParameter) -> RuntimeParam:
    descriptor = self.type_descriptor
    if (
        self._runtime_param is None
        and descriptor.annotation in PLAIN
        and descriptor.parameter_info.parser is None
    ):
        self._runtime_param = PlainParam(
            parameter_info=descriptor.parameter_info, annotation=descriptor.annotation
        )
    return _typers_runtime_param(self)


def coerce_plain_values_directly() -> None:
    """From now on, `str` and `bool` parameters coerce through `PlainParam` (idempotent)."""
    _TyperParameter.get_runtime_param = _runtime_param  # type: ignore[method-assign]
