"""`rebill worker`: the periodic jobs (`rebill.services.jobs.JOBS`: webhook delivery, top-ups,
alert e-mail, dunning, Stripe Tax records) as a process of their own, beside any number of
`rebill serve --no-background` processes and other workers on the same database (every job
claims its rows)."""

from __future__ import annotations

from typing import Annotated

import typer

from rebill.entrypoints.cli.boundary import open_app
from rebill.entrypoints.cli.common import DbOption, err, plain, print_json

cli = typer.Typer()


@cli.command("worker")
def worker_command(
    once: Annotated[
        bool, typer.Option("--once", help="Run each job's round once and exit (tests, cron)")
    ] = False,
    job: Annotated[
        list[str] | None, typer.Option("--job", help="Only this job (repeatable; default all)")
    ] = None,
    db: DbOption = None,
) -> None:
    """Run the periodic jobs (webhooks, top-ups, alerts, dunning) until stopped."""
    import signal
    import threading

    from rebill.entrypoints import jsonlog
    from rebill.services import jobs

    try:
        chosen = jobs.select_jobs(job)
    except ValueError as exc:
        err.print(f"[bold red]error[/]: {plain(exc)}", highlight=False)
        raise typer.Exit(1) from None
    jsonlog.configure()
    rebill = open_app(db)
    if once:
        print_json(jobs.run_once(rebill, chosen))
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    err.print(f"rebill worker: {', '.join(j.name for j in chosen)}")
    threads = jobs.start(rebill, stop, chosen, first_wait=False)
    while not stop.wait(1.0):
        pass
    for thread in threads:
        thread.join(timeout=30)
