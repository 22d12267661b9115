"""The periodic jobs: ONE registry (`JOBS`) that `rebill worker` runs as its own process loop
(and `rebill serve` beside the API unless told not to). Adding a job is one line in `JOBS`.

Every job claims its rows before doing their work (`FOR UPDATE SKIP LOCKED` on PostgreSQL,
or an update that takes a row only while it is still free), so any number of servers and
workers against one database do no job twice; the work is served agency by agency
(`rebill.domain.turns.round_robin`, per-agency limits), so no agency starves the others.
Each job runs in a thread of its own, so a slow webhook endpoint delays no top-up."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from rebill.services.payments.gateway import GatewayContext
from rebill.services.ports import Clock, Mailer, UnitOfWorkFactory, WebhookSender
from rebill.services.ports.archive import CallArchive

logger = logging.getLogger("rebill.jobs")


class JobContext(Protocol):
    """What a job runs on (bootstrap's `App` is one)."""

    @property
    def uow(self) -> UnitOfWorkFactory: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def mailer(self) -> Mailer | None: ...

    @property
    def webhook_sender(self) -> WebhookSender: ...

    @property
    def gateway(self) -> GatewayContext: ...

    @property
    def call_archive(self) -> CallArchive: ...


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: float
    run: Callable[[JobContext], int]  # one round; how many items it handled


def deliver_webhooks(context: JobContext) -> int:
    from rebill.services.notifications.webhooks import deliver_due

    return deliver_due(context.uow, context.webhook_sender, context.clock.now())


def charge_top_ups(context: JobContext) -> int:
    """Pending automatic top-ups, then duplicate payments refunded (with Stripe only)."""
    from rebill.services.payments.collect import refund_duplicates
    from rebill.services.payments.top_ups import process_top_ups

    if context.gateway.gateway is None:
        return 0
    charged = process_top_ups(context.uow, context.gateway, context.clock.now())
    refund_duplicates(context.uow, context.gateway, context.clock.now())
    return len(charged)


def send_alerts(context: JobContext) -> int:
    """E-mail new alerts (when an SMTP server is configured)."""
    from rebill.services.notifications.alerts import deliver_alerts

    if context.mailer is None:
        return 0
    return deliver_alerts(context.uow, context.mailer, context.clock.now())


def run_dunning_round(context: JobContext) -> int:
    """Retries of failed charges on their schedule, e-mails, suspensions and reinstatements
    (docs/dunning.md); the same round as `rebill dunning run`."""
    from rebill.services.payments.dunning import run_dunning

    run = run_dunning(context.uow, context.gateway, context.mailer, context.clock.now())
    return len(run.steps)


def record_tax_transactions(context: JobContext) -> int:
    """Stripe Tax transactions (and reversals) still pending, with Stripe only."""
    from rebill.services.payments.tax_records import record_pending_taxes

    if context.gateway.gateway is None:
        return 0
    return len(record_pending_taxes(context.uow, context.gateway, context.clock.now()))


def prepare_call_months(context: JobContext) -> int:
    """The calls' monthly partitions of last month to two months ahead (PostgreSQL)."""
    from rebill.services.usage.archive import prepare_months

    return len(prepare_months(context.call_archive, context.clock.now()))


# The registry. One line a job: name, seconds between rounds, the round.
JOBS: tuple[Job, ...] = (
    Job("webhooks", 2.0, deliver_webhooks),
    Job("top_ups", 30.0, charge_top_ups),
    Job("alerts", 5.0, send_alerts),
    Job("dunning", 60.0, run_dunning_round),
    Job("tax_records", 30.0, record_tax_transactions),
    Job("partitions", 3600.0, prepare_call_months),
)


def backlog(
    uow_factory: UnitOfWorkFactory, now: datetime
) -> dict[str, tuple[int, datetime | None]]:
    """Work waiting, by job: how many items, and when the oldest was queued (webhook
    deliveries due, alerts not yet e-mailed)."""
    with uow_factory() as uow:
        deliveries = uow.platform.deliveries.backlog(now)
        alerts = [a for a in uow.platform.alerts.all(pending=True) if a.recipients]
    oldest_alert = min((a.fired_at for a in alerts), default=None)
    return {"webhooks": deliveries, "alerts": (len(alerts), oldest_alert)}


def select_jobs(names: list[str] | None) -> tuple[Job, ...]:
    """The registered jobs named (all when None); an unknown name is a ValueError."""
    if not names:
        return JOBS
    known = {job.name: job for job in JOBS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown jobs: {', '.join(unknown)} (known: {', '.join(known)})")
    return tuple(known[n] for n in names)


def run_round(context: JobContext, job: Job) -> int | None:
    """One round of `job`; a failure is logged (None), never raised: the next round retries."""
    started = time.monotonic()
    try:
        handled = job.run(context)
    except Exception:
        logger.exception("job round failed", extra={"job": job.name})
        return None
    if handled:
        elapsed = round(time.monotonic() - started, 3)
        logger.info("job round", extra={"job": job.name, "handled": handled, "seconds": elapsed})
    return handled


def run_once(context: JobContext, jobs: tuple[Job, ...] = JOBS) -> dict[str, int | None]:
    """Every job's round once, in turn (`rebill worker --once`, cron, tests)."""
    return {job.name: run_round(context, job) for job in jobs}


def start(
    context: JobContext,
    stop: threading.Event,
    jobs: tuple[Job, ...] = JOBS,
    first_wait: bool = True,
) -> list[threading.Thread]:
    """A thread per job, each running a round every `every_seconds` until `stop` is set."""

    def loop(job: Job) -> None:
        if not first_wait:
            run_round(context, job)
        while not stop.wait(job.every_seconds):
            run_round(context, job)

    threads = [
        threading.Thread(target=loop, args=(job,), name=f"rebill-{job.name}", daemon=True)
        for job in jobs
    ]
    for thread in threads:
        thread.start()
    return threads
