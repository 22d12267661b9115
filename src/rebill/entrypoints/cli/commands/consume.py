"""`rebill consume`: call-ended events from a NATS JetStream stream, recorded through the same
ingestion service as `POST /v1/calls`, each acknowledged only after its commit
(docs/streaming.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from rebill.entrypoints.cli.boundary import open_app
from rebill.entrypoints.cli.common import DbOption, err, plain

cli = typer.Typer()


@cli.command("consume")
def consume_command(
    nats_url: Annotated[
        str, typer.Option("--nats", help="NATS server, e.g. nats://127.0.0.1:4222")
    ],
    stream: Annotated[str, typer.Option("--stream", help="The JetStream stream of call events")],
    durable: Annotated[
        str, typer.Option(help="Durable consumer name (its position survives restarts)")
    ] = "rebill-calls",
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Exit once the stream has nothing more")
    ] = False,
    db: DbOption = None,
) -> None:
    """Record call-ended events from a NATS JetStream stream, as POST /v1/calls does."""
    import signal
    import threading

    from rebill.bootstrap import consume_calls
    from rebill.entrypoints import jsonlog
    from rebill.services.streaming import StreamUnavailable

    jsonlog.configure()
    rebill = open_app(db)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    err.print(f"rebill consume: stream {stream} on {nats_url} (consumer {durable})")
    try:
        acked = consume_calls(rebill, nats_url, stream, durable, stop, idle_exit=until_idle)
    except StreamUnavailable as exc:
        err.print(f"[bold red]error[/]: {plain(exc)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    err.print(f"{acked} event(s) acknowledged")
