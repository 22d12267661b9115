"""`rebill wholesale`: the platform's wholesale card in force now and its changes scheduled
for later periods (a catalog's `platform.wholesale_from`, or the console's "Takes effect")."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from rebill.entrypoints.cli.boundary import open_app
from rebill.entrypoints.cli.common import DbOption, JsonOption, out, print_json

wholesale_app = typer.Typer(
    no_args_is_help=True, help="The platform's wholesale card: in force now, and scheduled."
)
cli = typer.Typer()
cli.add_typer(wholesale_app, name="wholesale")

PeriodOption = Annotated[str, typer.Option("--period", help="The change's first period, YYYY-MM.")]


def _rates(card: dict[str, Any]) -> str:
    voice = ", ".join(f"{d} {r['per_minute']}/min" for d, r in card.get("voice", {}).items())
    numbers = ", ".join(
        f"{t.replace('_', '-')} {n['monthly']}/month" for t, n in card.get("numbers", {}).items()
    )
    return f"{voice}; {numbers}; agency fee {card.get('agency_monthly_fee', '0')}"


@wholesale_app.command("show")
def wholesale_show(db: DbOption = None, as_json: JsonOption = False) -> None:
    """The card in force now (the platform's period, in UTC) and the changes still to begin."""
    from rebill.services.catalog import wholesale_schedule

    rebill = open_app(db)
    found = wholesale_schedule.schedule_document(rebill.uow, rebill.clock.now())
    if as_json:
        print_json(found)
        return
    out.print(
        f"in force ({found['period']}): {_rates(found['in_force'])}",
        highlight=False,
        soft_wrap=True,
    )
    if not found["scheduled"]:
        out.print("no change scheduled", highlight=False, soft_wrap=True)
    for change in found["scheduled"]:
        out.print(
            f"from {change['from']}: {_rates(change['wholesale'])}  "
            f"(by {change['scheduled_by']}, {change['scheduled_at'][:16]})",
            highlight=False,
            soft_wrap=True,
        )


@wholesale_app.command("cancel")
def wholesale_cancel(period: PeriodOption, db: DbOption = None) -> None:
    """Cancel the change scheduled from a period (only before it begins anywhere)."""
    from rebill.services.catalog import wholesale_schedule

    rebill = open_app(db)
    wholesale_schedule.cancel(rebill.uow, period, "operator (cli)", rebill.clock.now())
    out.print(f"cancelled the wholesale change from {period}", highlight=False, soft_wrap=True)
