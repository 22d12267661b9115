"""The table `rebill --help` is printed from (`app.COMMANDS`, so that listing the commands
imports none of them) agrees with the command modules: every entry names a command of its
module with that command's first line of help, and every command of a module has an entry."""

from __future__ import annotations

import importlib
import inspect

import pytest
import typer.main

from rebill.entrypoints.cli.app import COMMANDS, RootGroup, app


def first_paragraph(text: str | None) -> str:
    return inspect.cleandoc(text or "").split("\n\n")[0]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_an_entry_names_its_command_and_its_line_of_help(name: str) -> None:
    command = typer.main.get_command(app)
    assert isinstance(command, RootGroup)
    loaded = command.load(name)
    assert loaded.name == name
    assert COMMANDS[name].help == first_paragraph(loaded.help)


def test_every_command_of_a_module_has_an_entry() -> None:
    for module_name in {entry.module for entry in COMMANDS.values()}:
        module = importlib.import_module(f"{RootGroup.package}.{module_name}")
        defined = set(typer.main.get_group(module.cli).commands)
        listed = {name for name, entry in COMMANDS.items() if entry.module == module_name}
        assert defined == listed, module_name
