"""Typer's Rich help and error panels without the Markdown parser and the traceback renderer
until they are used (issue 16).

`typer.rich_utils` renders `--help` and usage errors. At its top it imports `rich.markdown`
(markdown-it, Pygments) for `rich_markup_mode="markdown"`, which rebill does not use, and
`rich.traceback` for pretty exceptions: about a third of `rebill --help`. `defer_rich_utils`
makes `typer.rich_utils` load on first use, with those two modules' classes replaced, while
it loads, by stand-ins that import the real module when called or asked for an attribute.
The output is the same (tests/unit/test_cli_startup.py compares it with Typer's own)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from importlib.abc import Loader
from typing import Any

# The module each stand-in stands for, and the one name `typer.rich_utils` imports from it.
DEFERRED = {"rich.markdown": "Markdown", "rich.traceback": "Traceback"}
RICH_UTILS = "typer.rich_utils"


class _StandIn(type):
    """The class of a stand-in: calling it or reading an attribute (`Traceback.from_exception`)
    imports the real module and hands over to the real class."""

    _module: str
    _name: str

    def _real(cls) -> Any:
        return getattr(importlib.import_module(cls._module), cls._name)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._real()(*args, **kwargs)

    def __getattr__(cls, attribute: str) -> Any:
        return getattr(cls._real(), attribute)


def _stand_in_module(module: str, name: str) -> types.ModuleType:
    stand_in = types.ModuleType(module)
    setattr(stand_in, name, _StandIn(name, (), {"_module": module, "_name": name}))
    return stand_in


class _WithStandIns(Loader):
    """Runs the real loader with the stand-ins in `sys.modules`, then takes them out."""

    def __init__(self, loader: Loader) -> None:
        self.loader = loader

    def exec_module(self, module: types.ModuleType) -> None:
        stand_ins = {m: _stand_in_module(m, n) for m, n in DEFERRED.items() if m not in sys.modules}
        sys.modules.update(stand_ins)
        try:
            self.loader.exec_module(module)
        finally:
            for name, stand_in in stand_ins.items():
                if sys.modules.get(name) is stand_in:
                    del sys.modules[name]


def defer_rich_utils() -> None:
    """Put a lazily loaded `typer.rich_utils` in `sys.modules` (nothing when it is there)."""
    if RICH_UTILS in sys.modules:
        return
    spec = importlib.util.find_spec(RICH_UTILS)
    assert spec is not None and spec.loader is not None, "Typer without rich_utils"
    spec.loader = importlib.util.LazyLoader(_WithStandIns(spec.loader))
    module = importlib.util.module_from_spec(spec)
    sys.modules[RICH_UTILS] = module
    spec.loader.exec_module(module)
