"""`rebill dunning run`: one round of dunning (retries of failed charges, e-mails, suspensions
and reinstatements; docs/dunning.md), at `REBILL_NOW` when it is set. `rebill worker` runs the
same round periodically."""

from __future__ import annotations

import typer

from rebill.entrypoints.cli.boundary import open_app
from rebill.entrypoints.cli.common import DbOption, JsonOption, out, print_json

dunning_app = typer.Typer(no_args_is_help=True, help="Failed charges: retries and suspensions.")
cli = typer.Typer()
cli.add_typer(dunning_app, name="dunning")

COLUMNS = ("agency", "invoice", "action", "detail")


@dunning_app.command("run")
def dunning_run(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Retry failed charges on schedule, tell each failure, suspend and reinstate payers."""
    from rebill.services.payments.dunning import run_dunning

    rebill = open_app(db)
    run = run_dunning(rebill.uow, rebill.gateway, rebill.mailer, rebill.clock.now())
    if as_json:
        print_json(run.document())
        return
    from rich.table import Table

    table = Table(title=f"Dunning at {run.now.isoformat()}")
    for column in COLUMNS:
        table.add_column(column)
    for step in run.steps:
        detail = {k: v for k, v in step.items() if k not in ("agency", "invoice", "action")}
        table.add_row(
            step["agency"],
            step["invoice"],
            step["action"],
            ", ".join(f"{k}={v}" for k, v in detail.items() if v is not None),
        )
    out.print(table)
