"""`rebill alerts`: the alerts that fired, and e-mailing the ones not delivered yet."""

from __future__ import annotations

from typing import Annotated

import typer

from rebill.domain.errors import ValidationError
from rebill.entrypoints.cli.boundary import open_app
from rebill.entrypoints.cli.common import (
    DbOption,
    JsonOption,
    deliver_pending_alerts,
    out,
    print_json,
)

alerts_app = typer.Typer(no_args_is_help=True, help="Alerts (each fires once).")
cli = typer.Typer()
cli.add_typer(alerts_app, name="alerts")

LIST_COLUMNS = ("fired", "period", "sub-account", "metric", "threshold", "delivered")


@alerts_app.command("list")
def alerts_list(
    agency: Annotated[str | None, typer.Option("--agency")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Alerts that fired, newest last."""
    from rebill.services.views.alerts import fired_alerts

    rows = fired_alerts(open_app(db).uow, agency)
    if as_json:
        print_json({"data": rows})
        return
    from rich.table import Table

    table = Table(title="Alerts")
    for column in LIST_COLUMNS:
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["fired_at"])[:19],
            str(row["period"]),
            str(row["sub_account"] or row["agency"]),
            str(row["metric"]),
            str(row["threshold"]),
            "yes" if row["delivered_at"] else "no",
        )
    out.print(table)


@alerts_app.command("deliver")
def alerts_deliver(db: DbOption = None) -> None:
    """E-mail the alerts not delivered yet (needs REBILL_SMTP_HOST)."""
    rebill = open_app(db)
    if rebill.mailer is None:
        raise ValidationError([], "set REBILL_SMTP_HOST (and REBILL_SMTP_PORT) to send e-mail")
    deliver_pending_alerts(rebill)
