"""`rebill db`: the database's own upkeep. `months` lists the monthly partitions of the calls
on PostgreSQL and makes the coming ones; `detach` and `attach` take a billed month out of the
live table and put it back (docs/scaling.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from rebill.entrypoints.cli.boundary import open_app
from rebill.entrypoints.cli.common import DbOption, JsonOption, out, print_json
from rebill.services.ports.archive import CallMonth

db_app = typer.Typer(no_args_is_help=True, help="The database's upkeep: monthly partitions.")
cli = typer.Typer()
cli.add_typer(db_app, name="db")


def _document(month: CallMonth) -> dict[str, object]:
    return {
        "period": month.period,
        "table": month.table,
        "attached": month.attached,
        "rows": month.rows,
    }


@db_app.command("months")
def db_months(
    ahead: Annotated[
        int | None,
        typer.Option("--ahead", help="First make the partitions up to this many months ahead"),
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """The months of calls (PostgreSQL partitions), attached or detached."""
    from rebill.services.usage.archive import call_months, prepare_months

    rebill = open_app(db)
    archive = rebill.call_archive
    made = prepare_months(archive, rebill.clock.now(), ahead) if ahead is not None else []
    months = call_months(archive)
    if as_json:
        print_json({"made": made, "data": [_document(m) for m in months]})
        return
    from rich.table import Table

    table = Table(title="Months of calls")
    for column in ("month", "table", "state", "rows (estimate)"):
        table.add_column(column)
    for month in months:
        state = "attached" if month.attached else "detached"
        rows = f"{month.rows:,}" if month.rows >= 0 else "not analyzed"
        table.add_row(month.period, month.table, state, rows)
    out.print(table)
    if made:
        out.print(f"made: {', '.join(made)}")


@db_app.command("detach")
def db_detach(
    period: Annotated[str, typer.Argument(help="The month, like 2025-01")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Detach a billed month's calls from the live table (kept whole in their own table)."""
    from rebill.services.usage.archive import detach_month

    rebill = open_app(db)
    month = detach_month(rebill.call_archive, period, rebill.clock.now())
    _say(month, as_json, "detached")


@db_app.command("attach")
def db_attach(
    period: Annotated[str, typer.Argument(help="The month, like 2025-01")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Attach a detached month again (with any calls that arrived for it meanwhile)."""
    from rebill.services.usage.archive import attach_month

    rebill = open_app(db)
    month = attach_month(rebill.call_archive, period)
    _say(month, as_json, "attached")


def _say(month: CallMonth, as_json: bool, done: str) -> None:
    if as_json:
        print_json(_document(month))
        return
    out.print(f"{done} {month.period}: table {month.table}, {month.rows:,} calls")
