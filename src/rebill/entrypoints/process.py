"""How every rebill process tunes the interpreter's garbage collector: the command line's
(`cli.app.main`) and each worker of `rebill serve --workers N` (`api.asgi.create`), which
uvicorn starts as fresh interpreters that never run the command line's `main`."""

from __future__ import annotations

import gc

# A young-generation collection every this many new container objects instead of every 700:
# start-up creates some hundred thousand objects that live as long as the process (modules,
# classes, the ORM's mappers), and collecting among them early is wasted work (a close paid
# two full collections, 0.15-0.2 s, at the default; bench/README.md).
gc_young_objects_max = 50_000


def tune_gc() -> None:
    gc.set_threshold(gc_young_objects_max)
