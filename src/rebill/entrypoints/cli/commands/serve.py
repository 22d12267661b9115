"""`rebill serve` (the REST API, the panel and the portal) and `rebill stripe-test-server`
(the in-repo Stripe test server), each in the foreground."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from rebill.entrypoints.cli.boundary import open_app
from rebill.entrypoints.cli.common import DbOption, err, masked_url

cli = typer.Typer()


@cli.command("stripe-test-server")
def stripe_test_server(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 12111,
    webhook_url: Annotated[
        str | None,
        typer.Option(
            help="Where to send signed Connect events, e.g. http://127.0.0.1:8000/webhooks/stripe"
        ),
    ] = None,
) -> None:
    """Run the in-repo Stripe test server in the foreground (for tests and the demo)."""
    from rebill.bootstrap import run_stripe_test_server

    run_stripe_test_server(host, port, webhook_url, os.environ.get("REBILL_STRIPE_WEBHOOK_SECRET"))


@cli.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Processes sharing the port (uvicorn workers)")
    ] = 1,
    background: Annotated[
        bool,
        typer.Option(
            help="Run the periodic jobs (webhooks, top-ups, alert e-mail) in each server "
            "process; --no-background when `rebill worker` processes run them"
        ),
    ] = True,
    db: DbOption = None,
) -> None:
    """Serve the REST API (OpenAPI at /openapi.json, docs at /docs)."""
    import uvicorn

    from rebill.entrypoints import jsonlog

    jsonlog.configure()
    rebill = open_app(db)  # migrates the schema, once, before any worker starts
    err.print(
        f"rebill API on http://{host}:{port} (OpenAPI: /openapi.json), "
        f"database {masked_url(rebill.settings.database_url)}, {workers} process(es)"
        + ("" if background else ", periodic jobs left to `rebill worker`")
    )
    options: dict[str, Any] = {"host": host, "port": port, "log_level": "warning"}
    options.update(fast_server_options())
    if workers == 1:
        from rebill.entrypoints.api.app import create_app

        uvicorn.run(create_app(rebill, background=background), **options)
        return
    from rebill.entrypoints.api.asgi import BACKGROUND_ENV

    os.environ["REBILL_DATABASE_URL"] = rebill.settings.database_url
    os.environ[BACKGROUND_ENV] = "1" if background else "0"
    rebill.engine.dispose()
    with metrics_directory():
        uvicorn.run("rebill.entrypoints.api.asgi:create", factory=True, workers=workers, **options)


def fast_server_options() -> dict[str, Any]:
    """httptools and uvloop when installed (uvicorn[standard]); uvicorn's defaults otherwise."""
    import importlib.util

    options: dict[str, Any] = {}
    if importlib.util.find_spec("httptools"):
        options["http"] = "httptools"
    if importlib.util.find_spec("uvloop"):
        options["loop"] = "uvloop"
    return options


@contextmanager
def metrics_directory() -> Iterator[None]:
    """PROMETHEUS_MULTIPROC_DIR for the workers' shared metrics (a fresh temporary directory
    unless one is set), so /metrics on any worker counts every worker's requests."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        yield
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="rebill-metrics-") as directory:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        try:
            yield
        finally:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]
