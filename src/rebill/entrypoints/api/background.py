"""The work `rebill serve` does beside answering requests: one thread delivers due webhooks,
another charges pending automatic top-ups (and refunds duplicate payments), each in a loop
that survives a failed round. Started and stopped with the app (`lifespan`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from rebill.bootstrap import App
from rebill.services.notifications import webhooks
from rebill.services.payments.collect import refund_duplicates
from rebill.services.payments.dunning import run_dunning
from rebill.services.payments.tax_records import record_pending_taxes
from rebill.services.payments.top_ups import process_top_ups

webhook_poll_seconds = 2.0
top_up_poll_rounds = 15  # every 30 s
stop_wait_seconds = 10
logger = logging.getLogger("rebill.api")


def lifespan(
    rebill: App, background: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: with `background`, the two loops run while the server does."""

    @asynccontextmanager
    async def run(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        # Two loops, so a slow webhook round never delays the auto top-ups.
        workers = [
            threading.Thread(target=loop, args=(rebill, stop), name=name, daemon=True)
            for loop, name in ((webhook_loop, "rebill-webhooks"), (top_up_loop, "rebill-top-ups"))
        ]
        if background:
            for worker in workers:
                worker.start()
        try:
            yield
        finally:
            stop.set()
            if background:
                for worker in workers:
                    worker.join(timeout=stop_wait_seconds)

    return run


def webhook_loop(rebill: App, stop: threading.Event) -> None:
    """Deliver due webhooks every `webhook_poll_seconds` (a round waits for its slowest
    agency, within the limits of `services.webhooks`)."""
    while not stop.wait(webhook_poll_seconds):
        try:
            webhooks.deliver_due(rebill.uow, rebill.webhook_sender, rebill.clock.now())
        except Exception:  # keep the loop alive; the next round retries
            logger.exception("webhook delivery round failed")


def top_up_loop(rebill: App, stop: threading.Event) -> None:
    """Charge pending auto top-ups (and refund duplicate payments) every
    `top_up_poll_rounds` webhook polls' worth of time, when Stripe is configured; in a thread
    of its own, so webhook rounds cannot delay it."""
    while not stop.wait(webhook_poll_seconds * top_up_poll_rounds):
        if rebill.gateway.gateway is None:
            continue
        try:
            process_top_ups(rebill.uow, rebill.gateway, rebill.clock.now())
            refund_duplicates(rebill.uow, rebill.gateway, rebill.clock.now())
            run_dunning(rebill.uow, rebill.gateway, rebill.mailer, rebill.clock.now())
            record_pending_taxes(rebill.uow, rebill.gateway, rebill.clock.now())
        except Exception:  # keep the loop alive; the next round retries
            logger.exception("auto top-up round failed")
