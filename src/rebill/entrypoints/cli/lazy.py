"""A Typer group that imports a command's module only when that command runs (issue 16).

`rebill --help` lists every command from a table of names, modules and one-line help
(`app.COMMANDS`), without importing any command module; `rebill usage summary ...` imports
`commands/usage.py` alone. The group is also the CLI's one error boundary: every command
runs inside `boundary.guarded`. Before it parses, it spares Typer two costs the commands do
not need (`coercion`, `rich_help`)."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import typer.main
from typer.core import TyperCommand, TyperGroup

from rebill.entrypoints.cli.boundary import guarded
from rebill.entrypoints.cli.coercion import coerce_plain_values_directly
from rebill.entrypoints.cli.rich_help import defer_rich_utils

if TYPE_CHECKING:
    from typer import _click


class Entry(NamedTuple):
    """Where a top-level command or group lives, and what `rebill --help` says of it: the
    first paragraph of its docstring (or of its group's help), exactly."""

    module: str
    help: str


class LazyGroup(TyperGroup):
    """A group whose commands are `entries`, each loaded from its module in `package` (which
    defines `cli`, a Typer holding it) when it is resolved to run or to show its help."""

    entries: ClassVar[Mapping[str, Entry]] = {}
    package: ClassVar[str] = ""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        # Stand-ins that carry only a name and a line of help: enough for the group's help,
        # its "No such command" and its "Did you mean" (which read `self.commands`).
        self.commands = {
            name: TyperCommand(name, help=entry.help) for name, entry in self.entries.items()
        }

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name is None:
            return name, command, rest
        return name, self.load(name), rest

    def load(self, name: str) -> _click.Command:
        """The real command `name`, built by Typer from its module."""
        module = importlib.import_module(f"{self.package}.{self.entries[name].module}")
        return typer.main.get_group(module.cli).commands[name]

    def invoke(self, ctx: _click.Context) -> Any:
        return guarded(functools.partial(super().invoke, ctx))

    def main(self, *args: Any, **kwargs: Any) -> Any:
        coerce_plain_values_directly()
        defer_rich_utils()
        return super().main(*args, **kwargs)
