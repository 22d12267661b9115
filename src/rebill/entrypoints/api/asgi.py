"""The app for `rebill serve --workers N`: uvicorn starts N processes that share the port and
each builds its app here, from the environment `serve` set up (the database URL, whether the
periodic jobs run beside the API). The schema was migrated once, by `serve`, before."""

from __future__ import annotations

import gc
import os

from fastapi import FastAPI

BACKGROUND_ENV = "REBILL_SERVE_BACKGROUND"


def create() -> FastAPI:
    from rebill.bootstrap import build
    from rebill.config import Settings
    from rebill.entrypoints import jsonlog
    from rebill.entrypoints.api.app import create_app
    from rebill.entrypoints.process import tune_gc

    tune_gc()
    jsonlog.configure()
    rebill = build(Settings.from_env(None), migrate_schema=False)
    api = create_app(rebill, background=os.environ.get(BACKGROUND_ENV) == "1")
    gc.freeze()  # what start-up built lives as long as the worker: no collection scans it
    return api
