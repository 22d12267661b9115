"""`rebill webhooks`: an agency's signed outbound webhooks: endpoints, their deliveries, and
sending what is due."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from rebill.entrypoints.cli.boundary import open_app
from rebill.entrypoints.cli.common import AgencyOption, DbOption, JsonOption, out, print_json

webhooks_app = typer.Typer(no_args_is_help=True, help="Outbound webhooks (signed).")
cli = typer.Typer()
cli.add_typer(webhooks_app, name="webhooks")


@webhooks_app.command("add")
def webhooks_add(
    agency: AgencyOption,
    url: Annotated[str, typer.Option("--url")],
    events: Annotated[str, typer.Option(help="Comma-separated event types (default: all)")] = "",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a webhook URL; prints its signing secret once."""
    from rebill.services.notifications.webhooks import add_endpoint

    rebill = open_app(db)
    chosen = [e.strip() for e in events.split(",") if e.strip()]
    created = add_endpoint(
        rebill.uow,
        agency,
        url,
        chosen,
        rebill.settings.webhooks_allow_private,
        rebill.clock.now(),
    )
    if as_json:
        print_json(created)
    else:
        out.print(f"endpoint {created['id']} → {url}; secret (shown once): {created['secret']}")


@webhooks_app.command("list")
def webhooks_list(agency: AgencyOption, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Endpoints and their deliveries."""
    from rebill.services.views.webhooks import webhooks_document

    document = webhooks_document(open_app(db).uow, agency)
    if as_json:
        print_json(document)
        return
    print_webhooks(agency, document)


def print_webhooks(agency: str, document: dict[str, Any]) -> None:
    from rich.table import Table

    endpoints = Table(title=f"webhook endpoints of {agency}")
    for column in ("id", "url", "state", "failures in a row"):
        endpoints.add_column(column)
    for e in document["endpoints"]:
        state = f"disabled since {e['disabled_at']}" if e["disabled"] else "enabled"
        endpoints.add_row(e["id"], e["url"], state, str(e["consecutive_failures"]))
    out.print(endpoints)
    table = Table(title=f"webhook deliveries of {agency}")
    for column in ("id", "event", "status", "attempts", "last error"):
        table.add_column(column)
    for d in document["deliveries"]:
        table.add_row(
            d["id"], d["event_type"], d["status"], str(d["attempts"]), d["last_error"] or ""
        )
    out.print(table)


@webhooks_app.command("enable")
def webhooks_enable(
    agency: AgencyOption,
    endpoint: Annotated[str, typer.Argument(help="Endpoint id (we_…)")],
    db: DbOption = None,
) -> None:
    """Send to an endpoint again after it was disabled for failing (same secret)."""
    from rebill.services.notifications.webhooks import enable_endpoint

    enable_endpoint(open_app(db).uow, agency, endpoint)
    out.print(f"{endpoint} enabled")


@webhooks_app.command("remove")
def webhooks_remove(
    agency: AgencyOption,
    endpoint: Annotated[str, typer.Argument(help="Endpoint id (we_…)")],
    db: DbOption = None,
) -> None:
    """Remove an endpoint for good (its unsent deliveries fail; sent ones stay listed)."""
    from rebill.services.notifications.webhooks import remove_endpoint

    remove_endpoint(open_app(db).uow, agency, endpoint)
    out.print(f"{endpoint} removed")


@webhooks_app.command("deliver")
def webhooks_deliver(db: DbOption = None) -> None:
    """Send the deliveries that are due now (`rebill serve` does this continuously)."""
    from rebill.services.notifications.webhooks import deliver_due

    rebill = open_app(db)
    sent = deliver_due(rebill.uow, rebill.webhook_sender, rebill.clock.now())
    out.print(f"{sent} delivered")


@webhooks_app.command("replay")
def webhooks_replay(
    agency: AgencyOption,
    delivery: Annotated[str, typer.Argument(help="Delivery id (msg_…)")],
    db: DbOption = None,
) -> None:
    """Send a delivery again."""
    from rebill.services.notifications.webhooks import replay

    rebill = open_app(db)
    replay(rebill.uow, agency, delivery, rebill.clock.now())
    out.print(f"{delivery} queued again")
