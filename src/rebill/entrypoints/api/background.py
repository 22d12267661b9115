"""The app's lifespan: the adapters warmed at start-up (`App.warm`), then the periodic jobs
(`rebill.services.jobs.JOBS`: webhooks, top-ups, alerts, dunning, tax records) beside the API,
for a single `rebill serve` that has no `rebill worker` next to it. Started and stopped with
the app (`lifespan`). Every job claims its rows, so running them here and in workers at once
does nothing twice."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from rebill.bootstrap import App
from rebill.services import jobs

stop_wait_seconds = 10


def lifespan(
    rebill: App, background: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: with `background`, the job loops run while the server does."""

    @asynccontextmanager
    async def run(_: FastAPI) -> AsyncIterator[None]:
        # In the thread pool, which the requests use too: its first use imports anyio's backend.
        await run_in_threadpool(rebill.warm)
        stop = threading.Event()
        threads = jobs.start(rebill, stop) if background else []
        try:
            yield
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=stop_wait_seconds)

    return run
