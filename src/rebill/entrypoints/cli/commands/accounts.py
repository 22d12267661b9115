"""`rebill caps` and `rebill sub-accounts`: a sub-account's caps and alert thresholds, and its
state (active, suspended, closed)."""

from __future__ import annotations

from typing import Annotated

import typer

from rebill.entrypoints.cli.boundary import open_app
from rebill.entrypoints.cli.common import AgencyOption, DbOption, JsonOption, out, print_json

caps_app = typer.Typer(no_args_is_help=True, help="Usage caps and alert thresholds.")
subs_app = typer.Typer(no_args_is_help=True, help="Sub-account states.")
cli = typer.Typer()
cli.add_typer(caps_app, name="caps")
cli.add_typer(subs_app, name="sub-accounts")


@caps_app.command("set")
def caps_set(
    agency: AgencyOption,
    sub_account: Annotated[str, typer.Option("--sub-account")],
    monthly_spend: Annotated[
        str | None, typer.Option(help="Spend cap on overage, e.g. 100.00 ('none' clears)")
    ] = None,
    monthly_minutes: Annotated[
        str | None, typer.Option(help="Cap on billable minutes ('none' clears)")
    ] = None,
    alerts: Annotated[
        str | None, typer.Option(help="Alert thresholds, fractions in (0, 1], e.g. 0.5,0.8,1.0")
    ] = None,
    enforcement: Annotated[str | None, typer.Option(help="block or notify")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change a sub-account's caps and alert thresholds."""
    from rebill.services.accounts.sub_accounts import caps_document, set_caps
    from rebill.services.catalog.ownership import OPERATOR

    rebill = open_app(db)
    caps = set_caps(
        rebill.uow,
        agency,
        sub_account,
        monthly_spend,
        monthly_minutes,
        alerts,
        enforcement,
        OPERATOR.actor,
        rebill.clock.now(),
    )
    document = {"sub_account": sub_account, **caps_document(caps, "USD")}
    if as_json:
        print_json(document)
    else:
        out.print(document)


@subs_app.command("state")
def sub_account_state(
    agency: AgencyOption,
    sub_account: Annotated[str, typer.Option("--sub-account")],
    state: Annotated[str, typer.Option(help="active, suspended or closed")],
    by: Annotated[str, typer.Option("--by", help="Who makes the change")] = "cli",
    reason: Annotated[str, typer.Option()] = "",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Suspend (calls refused, numbers kept and billed), reactivate or close a sub-account."""
    from rebill.services.accounts.sub_accounts import set_state

    rebill = open_app(db)
    old = set_state(rebill.uow, agency, sub_account, state, by, reason, rebill.clock.now())
    if as_json:
        print_json({"sub_account": sub_account, "from": old, "to": state, "by": by})
    else:
        out.print(f"{sub_account}: {old} → {state} (by {by})")
