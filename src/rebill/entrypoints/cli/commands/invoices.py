"""`rebill close` and `rebill invoices`: closing a period, then listing, rendering, paying,
charging and refunding its invoices."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rebill.domain.errors import ValidationError
from rebill.entrypoints.cli.boundary import EXIT_PAYMENT_FAILED, open_app
from rebill.entrypoints.cli.common import (
    AgencyOption,
    AllAgenciesOption,
    DbOption,
    JsonOption,
    err,
    out,
    parse_period,
    print_json,
)

invoices_app = typer.Typer(
    no_args_is_help=True, help="Invoices: list, PDF, pay (manual), charge (Stripe), refund."
)
cli = typer.Typer()
cli.add_typer(invoices_app, name="invoices")

LIST_COLUMNS = ("number", "kind", "agency", "sub-account", "period", "status", "total")


@cli.command("close")
def close_command(
    period: Annotated[str, typer.Option("--period", help="YYYY-MM")],
    agency: AllAgenciesOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Close a period: retail invoices, the wholesale invoice and the profit report."""
    from rebill.entrypoints.cli.close_report import print_close
    from rebill.services.invoicing.close import close_period

    rebill = open_app(db)
    label = parse_period(period)
    documents = close_period(
        rebill.uow, label, [agency] if agency else None, rebill.clock.now(), rebill.gateway
    )
    # The months after the closed one get their partitions of calls now, not at their first
    # call (PostgreSQL; nothing on SQLite).
    rebill.call_archive.prepare([str(label.next()), str(label.next().next())])
    if as_json:
        print_json({"period": str(label), "agencies": documents})
        return
    for document in documents:
        print_close(out.console, document, str(label))


@invoices_app.command("list")
def invoices_list(
    agency: Annotated[str | None, typer.Option("--agency")] = None,
    period: Annotated[str | None, typer.Option("--period")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Invoices and receipts, oldest first."""
    # Read through Core (`listing`): the list loads no ORM, so it answers at once.
    from rebill.services.views import listing

    rebill = open_app(db)
    invoices = listing.list_invoices(
        rebill.listing, agency, parse_period(period) if period else None
    )
    if as_json:
        print_json({"data": invoices})
        return
    from rich.table import Table

    table = Table(title="Invoices")
    for column in LIST_COLUMNS:
        table.add_column(column, justify="right" if column == "total" else "left")
    for inv in invoices:
        table.add_row(
            inv["number"],
            inv["kind"],
            inv["agency"],
            inv["sub_account"] or "",
            inv["period"] or inv["issued_at"][:10],
            inv["status"],
            f"{inv['total']} {inv['currency']}",
        )
    out.print(table)


@invoices_app.command("pdf")
def invoices_pdf(
    number: Annotated[str, typer.Argument(help="Invoice number, e.g. ACME-000001")],
    output: Annotated[Path, typer.Option("-o", "--output", help="PDF file")],
    db: DbOption = None,
) -> None:
    """Render an invoice as PDF in its issuer's brand (Factur-X when it has a tax ID)."""
    from rebill.services.invoicing.documents import invoice_pdf

    rebill = open_app(db)
    pdf = invoice_pdf(rebill.uow, rebill.renderer, number, public_url=rebill.gateway.public_url)
    try:
        output.write_bytes(pdf)
    except OSError as exc:
        raise ValidationError([], f"{output}: {exc.strerror}") from None
    out.print(f"wrote {output} ({len(pdf):,} bytes)")


@invoices_app.command("pay")
def invoices_pay(
    number: Annotated[str, typer.Argument(help="Invoice number")],
    agency: AgencyOption,
    reference: Annotated[str, typer.Option(help="How it was paid")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Mark an open invoice paid through the manual gateway (bank transfer, cash)."""
    from rebill.services.invoicing.manual import pay_invoice

    rebill = open_app(db)
    previous = pay_invoice(rebill.uow, agency, number, reference, rebill.clock.now())
    if as_json:
        print_json({"number": number, "status": "paid", "was": previous})
    else:
        out.print(f"{number}: paid ({reference})" + (" (already)" if previous == "paid" else ""))


@invoices_app.command("charge")
def invoices_charge(
    number: Annotated[str, typer.Argument(help="Invoice number")],
    agency: AgencyOption,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Charge an open invoice to the payer's saved card, off session: a retail invoice on the
    agency's Stripe account, a wholesale invoice on the platform's."""
    from rebill.services.payments.collect import charge_invoice

    rebill = open_app(db)
    document = charge_invoice(rebill.uow, rebill.gateway, agency, number, rebill.clock.now())
    last = document["attempts"][-1] if document["attempts"] else None
    if as_json:
        print_json(document)
    elif document["status"] == "paid":
        out.print(f"{number}: paid {document['total']} {document['currency']}")
    if document["status"] == "processing":
        err.print(f"{number}: the payment is processing; its webhook settles it", highlight=False)
    elif document["status"] != "paid":
        if last is not None:
            err.print(
                f"[bold red]payment {last['status']}[/] ({last['code']}): {last['message']}; "
                f"{number} stays open",
                highlight=False,
            )
        raise typer.Exit(EXIT_PAYMENT_FAILED)


@invoices_app.command("refund")
def invoices_refund(
    number: Annotated[str, typer.Argument(help="Invoice or receipt number")],
    agency: AgencyOption,
    amount: Annotated[
        str | None, typer.Option(help="Part of the total, e.g. 5.00 (default: all that is left)")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Refund a paid invoice or receipt (through Stripe when it was paid there) and issue
    its credit note."""
    from rebill.services.payments.collect import refund_invoice

    rebill = open_app(db)
    document = refund_invoice(
        rebill.uow, rebill.gateway, agency, number, amount, rebill.clock.now()
    )
    if as_json:
        print_json(document)
    else:
        out.print(
            f"credit note {document['credit_note']}: refunded {document['amount']} "
            f"{document['currency']} of {number}"
            + (f" (Stripe refund {document['refund']})" if document["refund"] else "")
        )
