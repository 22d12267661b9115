"""`rebill gateway` and `rebill checkout`: an agency's payment gateway (the Stripe link, its tax
readiness, saved cards, the platform's fee) and hosted checkouts for client actions."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from rebill.entrypoints.cli.boundary import open_app
from rebill.entrypoints.cli.common import AgencyOption, DbOption, JsonOption, out, print_json

gateway_app = typer.Typer(no_args_is_help=True, help="The agency's payment gateway.")
checkout_app = typer.Typer(no_args_is_help=True, help="Hosted checkouts for client actions.")
cli = typer.Typer()
cli.add_typer(gateway_app, name="gateway")
cli.add_typer(checkout_app, name="checkout")


def print_gateway_status(document: dict[str, Any]) -> None:
    tax = document["tax"]
    out.print(
        f"gateway: {document['provider'] or 'none'} {document['account'] or ''} "
        f"(charges {'enabled' if document['charges_enabled'] else 'disabled'})"
    )
    mark = "[green]ready[/]" if tax["ready"] else "[red]not ready[/]"
    out.print(
        f"tax mode {tax['mode']}: {tax['status']}, {mark}; registrations: {tax['registrations']}"
    )
    for field in tax["missing_fields"]:
        out.print(f"  [red]✗[/] missing {field}")
    for fix in tax["fixes"]:
        out.print(f"  fix: {fix}")
    for warning in tax["warnings"]:
        out.print(f"  [yellow]warning[/]: {warning}")


def print_status_document(document: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(document)
    else:
        print_gateway_status(document)


@gateway_app.command("link")
def gateway_link(
    agency: AgencyOption,
    provider: Annotated[str, typer.Option(help="stripe or manual")],
    account: Annotated[str | None, typer.Option(help="acct_… (stripe)")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Link an agency to a Stripe account by its id, or to the manual gateway. The operator's
    alone: nothing proves the agency holds that account (agencies link theirs in the panel,
    by onboarding or OAuth)."""
    from rebill.services.payments.gateway import link_gateway

    rebill = open_app(db)
    document = link_gateway(
        rebill.uow, rebill.gateway, agency, provider, account, rebill.clock.now()
    )
    print_status_document(document, as_json)


@gateway_app.command("status")
def gateway_status_command(
    agency: AgencyOption, db: DbOption = None, as_json: JsonOption = False
) -> None:
    """Link state and the Stripe Tax readiness checklist."""
    from rebill.services.payments.gateway import gateway_status

    rebill = open_app(db)
    print_status_document(gateway_status(rebill.uow, rebill.gateway, agency), as_json)


@gateway_app.command("onboard")
def gateway_onboard(
    agency: AgencyOption,
    country: Annotated[str, typer.Option(help="The agency's country (two letters)")] = "US",
    email: Annotated[str | None, typer.Option(help="The agency's e-mail for Stripe")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create the agency's Stripe account on the platform and print its onboarding link."""
    from rebill.services.payments.gateway import onboard

    rebill = open_app(db)
    document = onboard(
        rebill.uow,
        rebill.gateway,
        agency,
        country,
        email,
        rebill.clock.now(),
        session_sha256=None,  # the operator's: its return URLs need no panel session
    )
    if as_json:
        print_json(document)
    else:
        out.print(f"account {document['account']}: finish onboarding at {document['url']}")


@gateway_app.command("oauth-url")
def gateway_oauth_url(agency: AgencyOption, db: DbOption = None) -> None:
    """The URL where an agency with its own Standard account connects it to the platform
    (works once, for 30 minutes)."""
    from rebill.services.payments.gateway import oauth_url

    rebill = open_app(db)
    url = oauth_url(rebill.uow, rebill.gateway, agency, rebill.clock.now(), session_sha256=None)
    sys.stdout.write(url + "\n")


@gateway_app.command("oauth-complete")
def gateway_oauth_complete(
    agency: AgencyOption,
    code: Annotated[str, typer.Option(help="The ac_… code Stripe returned")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Link the Standard account an OAuth code stands for (what the callback URL does)."""
    from rebill.services.payments.gateway import link_oauth_code

    rebill = open_app(db)
    document = link_oauth_code(rebill.uow, rebill.gateway, agency, code, rebill.clock.now())
    print_status_document(document, as_json)


@gateway_app.command("save-card")
def gateway_save_card(
    agency: AgencyOption,
    payment_method: Annotated[
        str, typer.Option("--payment-method", help="pm_… (test mode: pm_card_visa)")
    ],
    sub_account: Annotated[
        str | None,
        typer.Option("--sub-account", help="The client; without it, the agency's own card"),
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Save the card that pays a client's invoices (or the agency's wholesale invoices)."""
    from rebill.services.payments.collect import save_card

    rebill = open_app(db)
    document = save_card(
        rebill.uow, rebill.gateway, agency, sub_account, payment_method, rebill.clock.now()
    )
    if as_json:
        print_json(document)
    else:
        out.print(
            f"{document['sub_account'] or agency}: {document['card']} saved on "
            f"{document['account']} ({document['customer']})"
        )


@gateway_app.command("fee")
def gateway_fee(
    agency: AgencyOption,
    percent: Annotated[str, typer.Option(help="The platform's application fee, e.g. 2.5")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set the platform's application fee on the agency's direct charges."""
    from rebill.services.payments.gateway import set_application_fee

    document = set_application_fee(open_app(db).uow, agency, percent)
    if as_json:
        print_json(document)
    else:
        out.print(f"{agency}: application fee {document['application_fee_percent']} %")


@checkout_app.command("create")
def checkout_create(
    agency: AgencyOption,
    sub_account: Annotated[str, typer.Option("--sub-account")],
    action: Annotated[str, typer.Option(help="credits, upgrade, number or invoice")],
    amount: Annotated[str | None, typer.Option(help="credits: e.g. 20.00")] = None,
    plan: Annotated[str | None, typer.Option(help="upgrade: the plan")] = None,
    number_type: Annotated[
        str | None, typer.Option("--type", help="number: local or toll_free")
    ] = None,
    invoice: Annotated[str | None, typer.Option(help="invoice: the open invoice to pay")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """A Checkout Session for a client action on the agency's Stripe account."""
    from rebill.services.payments.gateway import create_checkout

    rebill = open_app(db)
    document = create_checkout(
        rebill.uow,
        rebill.gateway,
        agency,
        sub_account,
        action,
        amount,
        plan,
        number_type,
        rebill.clock.now(),
        invoice,
    )
    if as_json:
        print_json(document)
    else:
        out.print(
            f"checkout {document['id']}: {document['amount']} + tax {document['tax']} "
            f"{document['currency']} → {document['url']}"
        )
