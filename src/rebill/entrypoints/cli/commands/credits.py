"""`rebill credits`: prepaid credits bought outside the gateway, and the auto top-ups charged
to saved cards."""

from __future__ import annotations

from typing import Annotated

import typer

from rebill.entrypoints.cli.boundary import open_app
from rebill.entrypoints.cli.common import (
    AgencyOption,
    AllAgenciesOption,
    DbOption,
    JsonOption,
    out,
    print_json,
)

credits_app = typer.Typer(no_args_is_help=True, help="Prepaid credits.")
cli = typer.Typer()
cli.add_typer(credits_app, name="credits")


@credits_app.command("top-ups")
def credits_top_ups(
    agency: AllAgenciesOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Charge pending auto top-ups to the sub-accounts' saved cards (`rebill serve` does this
    every 30 s)."""
    from rebill.services.payments.top_ups import process_top_ups

    rebill = open_app(db)
    results = process_top_ups(
        rebill.uow, rebill.gateway, rebill.clock.now(), [agency] if agency else None
    )
    if as_json:
        print_json({"data": results})
        return
    if not results:
        out.print("no pending auto top-ups")
    for r in results:
        detail = f" → receipt {r['receipt']}" if r["receipt"] else f" ({r['message']})"
        out.print(
            f"{r['agency']}/{r['sub_account']}: {r['amount']} {r['currency']} {r['status']}{detail}"
        )


@credits_app.command("add")
def credits_add(
    agency: AgencyOption,
    sub_account: Annotated[str, typer.Option("--sub-account")],
    amount: Annotated[
        str,
        typer.Option("--amount", help="Sale amount, e.g. 20.00 (net of inclusive tax to wallet)"),
    ],
    reference: Annotated[
        str | None,
        typer.Option("--reference", help="Payment reference; the same one is recorded once"),
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record a credit purchase paid outside the gateway."""
    from rebill.domain.money import format_micros_as_minor
    from rebill.services.wallets.credits import record_credit_purchase

    rebill = open_app(db)
    receipt = record_credit_purchase(
        rebill.uow, agency, sub_account, amount, rebill.clock.now(), reference
    )
    balance_text = format_micros_as_minor(receipt.balance_micros, receipt.currency)
    if as_json:
        print_json(
            {
                "receipt": receipt.receipt,
                "sub_account": sub_account,
                "balance": balance_text,
                "currency": receipt.currency,
            }
        )
        return
    out.print(
        f"receipt {receipt.receipt}: {sub_account} now holds {balance_text} "
        f"{receipt.currency} of credits"
    )
