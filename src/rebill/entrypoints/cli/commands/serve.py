"""`rebill serve` (the REST API, the panel and the portal) and `rebill stripe-test-server`
(the in-repo Stripe test server), each in the foreground."""

from __future__ import annotations

import os
from typing import Annotated

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
    db: DbOption = None,
) -> None:
    """Serve the REST API (OpenAPI at /openapi.json, docs at /docs)."""
    import uvicorn

    from rebill.entrypoints.api.app import create_app

    rebill = open_app(db)
    err.print(
        f"rebill API on http://{host}:{port} (OpenAPI: /openapi.json), "
        f"database {masked_url(rebill.settings.database_url)}"
    )
    uvicorn.run(create_app(rebill, background=True), host=host, port=port, log_level="warning")
