"""`rebill` commands (INTERFACES.md). Each command builds the app through `bootstrap`, runs one
service, and prints either Rich tables or, with `--json`, one JSON document on stdout. Expected
failures go to stderr with a non-zero status (see `EXIT_CODES`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from rebill.bootstrap import App, build, run_stripe_test_server
from rebill.config import Settings
from rebill.domain.errors import (
    BillingError,
    ConflictError,
    NotFoundError,
    TaxNotConfiguredError,
    ValidationError,
)
from rebill.entrypoints.cli.close_report import print_close

if TYPE_CHECKING:
    from rebill.domain.period import Period
    from rebill.services.payments.gateway import GatewayContext

# The services are imported by the commands that run them, and the adapters are built by
# `App` on first use: `rebill --help` and the read commands load neither the PDF renderer,
# the Stripe SDK, the web stack nor Alembic (tests/unit/test_cli_startup.py).

EXIT_CODES: dict[type[BillingError], int] = {
    ValidationError: 1,
    TaxNotConfiguredError: 3,
    NotFoundError: 4,
    ConflictError: 5,
}
# `invoices charge` when the gateway answered but the invoice is still open (declined card,
# authentication needed): the JSON document says why.
EXIT_PAYMENT_FAILED = 6

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="White-label billing for AI phone-call minutes.",
)
usage_app = typer.Typer(no_args_is_help=True, help="Import and summarize call records.")
invoices_app = typer.Typer(
    no_args_is_help=True, help="Invoices: list, PDF, pay (manual), charge (Stripe), refund."
)
credits_app = typer.Typer(no_args_is_help=True, help="Prepaid credits.")
app.add_typer(usage_app, name="usage")
app.add_typer(invoices_app, name="invoices")
app.add_typer(credits_app, name="credits")
caps_app = typer.Typer(no_args_is_help=True, help="Usage caps and alert thresholds.")
subs_app = typer.Typer(no_args_is_help=True, help="Sub-account states.")
alerts_app = typer.Typer(no_args_is_help=True, help="Alerts (each fires once).")
app.add_typer(caps_app, name="caps")
app.add_typer(subs_app, name="sub-accounts")
app.add_typer(alerts_app, name="alerts")
webhooks_app = typer.Typer(no_args_is_help=True, help="Outbound webhooks (signed).")
app.add_typer(webhooks_app, name="webhooks")
gateway_app = typer.Typer(no_args_is_help=True, help="The agency's payment gateway.")
checkout_app = typer.Typer(no_args_is_help=True, help="Hosted checkouts for client actions.")
app.add_typer(gateway_app, name="gateway")
app.add_typer(checkout_app, name="checkout")
keys_app = typer.Typer(no_args_is_help=True, help="API keys (shown once, stored hashed).")
app.add_typer(keys_app, name="keys")
domains_app = typer.Typer(
    no_args_is_help=True, help="Agencies' custom portal domains (the platform approves)."
)
app.add_typer(domains_app, name="domains")

out = Console()
err = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", help="SQLAlchemy URL (default sqlite:///rebill.db or REBILL_DATABASE_URL)"
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
AgencyOption = Annotated[str, typer.Option("--agency", help="Agency ID.")]


def fail(error: BillingError) -> NoReturn:
    err.print(
        f"[bold red]error[/] ({error.code}): {error.message}", highlight=False, soft_wrap=True
    )
    if isinstance(error, TaxNotConfiguredError):
        for fix in error.fixes:
            err.print(f"  fix: {fix}", highlight=False)
    code = next((c for t, c in EXIT_CODES.items() if isinstance(error, t)), 1)
    raise typer.Exit(code)


def open_app(db: str | None) -> App:
    try:
        return build(Settings.from_env(db))
    except ValueError as exc:
        err.print(f"[bold red]error[/]: {exc}", highlight=False)
        raise typer.Exit(1) from None


def masked_url(url: str) -> str:
    """A database URL fit to print: its password replaced by ***."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy reads: print nothing of it
        return "(unreadable URL)"


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def parse_period(text: str) -> Period:
    from rebill.domain.period import Period

    try:
        return Period.parse(text)
    except ValueError as exc:
        err.print(f"[bold red]error[/]: --period: {exc}", highlight=False)
        raise typer.Exit(1) from None


@app.command("apply")
def apply_command(
    file: Annotated[Path, typer.Argument(help="Catalog file (YAML or JSON).")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create or update platform, agencies, plans, sub-accounts and numbers from a catalog."""
    from rebill.entrypoints.cli.files import load_document
    from rebill.services.catalog.apply import apply_catalog

    rebill = open_app(db)
    try:
        report = apply_catalog(
            rebill.uow, load_document(file), str(file), rebill.clock.now(), base_dir=file.parent
        )
    except BillingError as exc:
        fail(exc)
    document = {"created": report.created, "updated": report.updated, "receipts": report.receipts}
    if as_json:
        print_json(document)
        return
    parts = [f"{n} {k} created" for k, n in report.created.items()]
    parts += [f"{n} {k} unchanged or updated" for k, n in report.updated.items()]
    out.print(f"applied {file}: " + (", ".join(parts) or "nothing to do"))
    if report.receipts:
        out.print(f"receipts issued: {', '.join(report.receipts)}")


@usage_app.command("import")
def usage_import(
    file: Annotated[Path, typer.Argument(help="CSV or JSON Lines file.")],
    agency: AgencyOption,
    db: DbOption = None,
    as_json: JsonOption = False,
    strict: Annotated[bool, typer.Option(help="Exit 1 when a row is rejected.")] = False,
) -> None:
    """Import call records; duplicates by call_id are skipped and counted."""
    from rebill.services.usage.import_file import import_usage, read_rows

    rebill = open_app(db)
    if not file.exists():
        fail(ValidationError([], f"{file}: no such file"))
    try:
        report = import_usage(rebill.uow, agency, read_rows(file), str(file), rebill.clock.now())
    except BillingError as exc:
        fail(exc)
    deliver_pending_alerts(rebill)
    for rejection in report.rejections:
        err.print(f"rejected {rejection}", highlight=False, soft_wrap=True)
    if report.rejected > len(report.rejections):
        err.print(f"... and {report.rejected - len(report.rejections)} more rejected rows")
    if as_json:
        print_json(
            {
                "imported": report.imported,
                "duplicates": report.duplicates,
                "rejected": report.rejected,
                "rejections": [
                    {"location": r.location, "field": r.field, "message": r.message}
                    for r in report.rejections
                ],
            }
        )
    else:
        out.print(
            f"imported {report.imported}, duplicates {report.duplicates}, "
            f"rejected {report.rejected}"
        )
    if strict and report.rejected:
        raise typer.Exit(1)


@usage_app.command("summary")
def usage_summary_command(
    agency: AgencyOption,
    period: Annotated[str, typer.Option("--period", help="YYYY-MM")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Minutes (billable, included used, from credits, postpaid), numbers and campaigns."""
    from rebill.services.views import reports

    rebill = open_app(db)
    try:
        summary = reports.usage_summary(rebill.uow, agency, parse_period(period))
    except BillingError as exc:
        fail(exc)
    if as_json:
        print_json(summary)
        return
    table = Table(title=f"Usage of {agency}, {summary['period']} ({summary['status']})")
    for column in (
        "sub-account",
        "billable min",
        "included used",
        "from credits",
        "postpaid",
        "numbers",
        "campaigns",
    ):
        table.add_column(column, justify="left" if column == "sub-account" else "right")
    for row in summary["sub_accounts"]:
        table.add_row(
            row["sub_account"],
            row["billable_minutes"],
            row["included_minutes_used"],
            row["credit_minutes"],
            row["postpaid_minutes"],
            str(row["numbers"]),
            str(row["campaigns"]),
        )
    out.print(table)


@app.command("close")
def close_command(
    period: Annotated[str, typer.Option("--period", help="YYYY-MM")],
    agency: Annotated[str | None, typer.Option("--agency", help="Agency ID (default: all)")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Close a period: retail invoices, the wholesale invoice and the profit report."""
    from rebill.services.invoicing.close import close_period

    rebill = open_app(db)
    label = parse_period(period)
    try:
        documents = close_period(
            rebill.uow, label, [agency] if agency else None, rebill.clock.now(), rebill.gateway
        )
    except BillingError as exc:
        fail(exc)
    if as_json:
        print_json({"period": str(label), "agencies": documents})
        return
    for document in documents:
        print_close(out, document, str(label))


@invoices_app.command("list")
def invoices_list(
    agency: Annotated[str | None, typer.Option("--agency")] = None,
    period: Annotated[str | None, typer.Option("--period")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Invoices and receipts, oldest first."""
    from rebill.services.views import reports

    rebill = open_app(db)
    try:
        invoices = reports.list_invoices(
            rebill.uow, agency, parse_period(period) if period else None
        )
    except BillingError as exc:
        fail(exc)
    if as_json:
        print_json({"data": invoices})
        return
    table = Table(title="Invoices")
    for column in ("number", "kind", "agency", "sub-account", "period", "status", "total"):
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
    try:
        pdf = invoice_pdf(rebill.uow, rebill.renderer, number)
    except BillingError as exc:
        fail(exc)
    try:
        output.write_bytes(pdf)
    except OSError as exc:
        fail(ValidationError([], f"{output}: {exc.strerror}"))
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
    from rebill.services.invoicing import billing

    rebill = open_app(db)
    try:
        previous = billing.mark_paid(rebill.uow, agency, number, reference, rebill.clock.now())
    except BillingError as exc:
        fail(exc)
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
    try:
        document = charge_invoice(
            rebill.uow, gateway_context(rebill), agency, number, rebill.clock.now()
        )
    except BillingError as exc:
        fail(exc)
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
    try:
        document = refund_invoice(
            rebill.uow, gateway_context(rebill), agency, number, amount, rebill.clock.now()
        )
    except BillingError as exc:
        fail(exc)
    if as_json:
        print_json(document)
    else:
        out.print(
            f"credit note {document['credit_note']}: refunded {document['amount']} "
            f"{document['currency']} of {number}"
            + (f" (Stripe refund {document['refund']})" if document["refund"] else "")
        )


@credits_app.command("top-ups")
def credits_top_ups(
    agency: Annotated[str | None, typer.Option("--agency", help="Agency ID (default: all)")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Charge pending auto top-ups to the sub-accounts' saved cards (`rebill serve` does this
    every 30 s)."""
    from rebill.services.payments.top_ups import process_top_ups

    rebill = open_app(db)
    try:
        results = process_top_ups(
            rebill.uow, gateway_context(rebill), rebill.clock.now(), [agency] if agency else None
        )
    except BillingError as exc:
        fail(exc)
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
    try:
        purchase = record_credit_purchase(
            rebill.uow, agency, sub_account, amount, rebill.clock.now(), reference
        )
    except BillingError as exc:
        fail(exc)
    number, currency = purchase.receipt, purchase.currency
    balance_text = format_micros_as_minor(purchase.balance_micros, currency)
    if as_json:
        print_json(
            {
                "receipt": number,
                "sub_account": sub_account,
                "balance": balance_text,
                "currency": currency,
            }
        )
        return
    out.print(f"receipt {number}: {sub_account} now holds {balance_text} {currency} of credits")


@app.command("demo")
def demo_command(
    db: DbOption = None,
    as_json: JsonOption = False,
    serve: Annotated[bool, typer.Option("--serve", help="Then serve the panel and API.")] = False,
    host: Annotated[str, typer.Option(help="With --serve: interface")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="With --serve: TCP port")] = 8000,
) -> None:
    """A fresh demo: a platform, an agency, plans, sub-accounts, a month of calls, closed."""
    from rebill.entrypoints.cli.demo import run_demo, serve_demo

    run_demo(db, as_json, out, err)
    if serve:
        serve_demo(db, host, port, out, err)


def deliver_pending_alerts(rebill: App) -> None:
    """E-mail new alerts when an SMTP server is configured (REBILL_SMTP_HOST)."""
    from rebill.services.notifications.alerts import deliver_alerts

    if rebill.mailer is None:
        return
    try:
        sent = deliver_alerts(rebill.uow, rebill.mailer, rebill.clock.now())
    except OSError as exc:
        err.print(f"[yellow]warning[/]: alerts kept undelivered, SMTP failed: {exc}")
        return
    if sent:
        err.print(f"{sent} alert e-mail(s) sent")


@app.command("authorize")
def authorize_command(
    agency: AgencyOption,
    sub_account: Annotated[str, typer.Option("--sub-account")],
    direction: Annotated[str, typer.Option("--direction", help="inbound or outbound")],
    call_id: Annotated[
        str | None, typer.Option("--call-id", help="Reserve a parallel-call slot for this call")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """May this sub-account start a call now, and for how long (BILLING_MODEL §8)?"""
    from rebill.services.usage.authorize import authorize_call

    rebill = open_app(db)
    try:
        result = authorize_call(
            rebill.uow, agency, sub_account, direction, call_id, rebill.clock.now()
        )
    except BillingError as exc:
        fail(exc)
    deliver_pending_alerts(rebill)
    document = result.document()
    if as_json:
        print_json(document)
        return
    decision = result.decision
    if decision.allowed:
        longest = decision.max_duration_seconds
        limit = "no limit" if longest is None else f"at most {longest} s"
        out.print(f"[green]allowed[/]: {limit}")
    else:
        out.print(f"[red]refused[/]: {decision.reason}")


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
    try:
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
    except BillingError as exc:
        fail(exc)
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
    try:
        old = set_state(rebill.uow, agency, sub_account, state, by, reason, rebill.clock.now())
    except BillingError as exc:
        fail(exc)
    if as_json:
        print_json({"sub_account": sub_account, "from": old, "to": state, "by": by})
    else:
        out.print(f"{sub_account}: {old} → {state} (by {by})")


@alerts_app.command("list")
def alerts_list(
    agency: Annotated[str | None, typer.Option("--agency")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Alerts that fired, newest last."""
    from rebill.services.views.queries import alert_documents

    rebill = open_app(db)
    rows = [
        {k: v for k, v in document.items() if k != "id"}
        for document in alert_documents(rebill.uow, agency, None)
    ]
    if as_json:
        print_json({"data": rows})
        return
    table = Table(title="Alerts")
    for column in ("fired", "period", "sub-account", "metric", "threshold", "delivered"):
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
        fail(ValidationError([], "set REBILL_SMTP_HOST (and REBILL_SMTP_PORT) to send e-mail"))
    deliver_pending_alerts(rebill)


@keys_app.command("create")
def keys_create(
    platform: Annotated[bool, typer.Option("--platform", help="A platform key")] = False,
    agency: Annotated[str | None, typer.Option("--agency")] = None,
    role: Annotated[str | None, typer.Option("--role", help="admin, billing or settings")] = None,
    sub_account: Annotated[str | None, typer.Option("--sub-account")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an API key and print it once."""
    from rebill.services.access.keys import create_key

    rebill = open_app(db)
    if platform == bool(agency):
        fail(ValidationError([], "give either --platform or --agency"))
    kind = "platform" if platform else ("sub_account" if sub_account else "agency")
    try:
        key, key_id = create_key(rebill.uow, kind, agency, sub_account, role, rebill.clock.now())
    except BillingError as exc:
        fail(exc)
    if as_json:
        print_json({"key": key, "id": key_id})
        return
    out.print(f"key {key_id} (shown once, keep it secret):")
    out.print(key, highlight=False, soft_wrap=True)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (key_…)")], db: DbOption = None
) -> None:
    """Revoke an API key at once."""
    from rebill.services.access.keys import revoke_key

    rebill = open_app(db)
    try:
        revoke_key(rebill.uow, key_id, rebill.clock.now())
    except BillingError as exc:
        fail(exc)
    out.print(f"revoked {key_id}")


def _domain_answer(action: Any, as_json: bool) -> None:
    try:
        found = action()
    except BillingError as exc:
        fail(exc)
    if as_json:
        print_json(found)
        return
    check = found["verification"]
    hint = f"; publish TXT {check['name']} = {check['value']}" if check else ""
    out.print(f"{found['agency']}  {found['domain']}  {found['status']}{hint}", highlight=False)


@domains_app.command("list")
def domains_list(
    agency: Annotated[str | None, typer.Option("--agency", help="Agency ID (default: all)")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Domains asked for and active, with the TXT record a pending one waits for."""
    from rebill.services.brand import domains

    found = domains.list_domains(open_app(db).uow, agency)
    if as_json:
        print_json(found)
        return
    for d in found:
        check = d["verification"]
        hint = f"  (TXT {check['name']} = {check['value']})" if check else ""
        out.print(f"{d['agency']}  {d['domain']}  {d['status']}{hint}", highlight=False)


@domains_app.command("request")
def domains_request(
    agency: AgencyOption,
    domain: Annotated[str, typer.Option("--domain")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ask for a portal domain for an agency (pending until approved or verified)."""
    from rebill.services.brand import domains

    rebill = open_app(db)
    hosts = domains.PlatformHosts(rebill.settings.own_hosts())
    _domain_answer(
        lambda: domains.request_domain(rebill.uow, agency, domain, hosts, rebill.clock.now()),
        as_json,
    )


@domains_app.command("approve")
def domains_approve(
    agency: AgencyOption,
    domain: Annotated[str, typer.Option("--domain")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """The platform's approval: the domain becomes the agency's portal host."""
    from rebill.services.brand import domains

    rebill = open_app(db)
    _domain_answer(
        lambda: domains.approve_domain(rebill.uow, agency, domain, rebill.clock.now()), as_json
    )


@domains_app.command("verify")
def domains_verify(
    agency: AgencyOption,
    domain: Annotated[str, typer.Option("--domain")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Activate a pending domain whose DNS TXT record proves control."""
    from rebill.services.brand import domains

    rebill = open_app(db)
    _domain_answer(
        lambda: domains.verify_domain(rebill.uow, rebill.dns(), agency, domain, rebill.clock.now()),
        as_json,
    )


@domains_app.command("remove")
def domains_remove(
    agency: AgencyOption, domain: Annotated[str, typer.Option("--domain")], db: DbOption = None
) -> None:
    """Forget a domain (an active one stops serving the agency's portal)."""
    from rebill.services.brand import domains

    try:
        domains.remove_domain(open_app(db).uow, agency, domain)
    except BillingError as exc:
        fail(exc)
    out.print(f"{domain} removed", highlight=False)


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
    try:
        created = add_endpoint(
            rebill.uow,
            agency,
            url,
            chosen,
            rebill.settings.webhooks_allow_private,
            rebill.clock.now(),
        )
    except BillingError as exc:
        fail(exc)
    if as_json:
        print_json(created)
    else:
        out.print(f"endpoint {created['id']} → {url}; secret (shown once): {created['secret']}")


@webhooks_app.command("list")
def webhooks_list(agency: AgencyOption, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Endpoints and their deliveries."""
    from rebill.services.views.webhooks import delivery_documents, endpoint_documents

    rebill = open_app(db)
    document = {
        "endpoints": endpoint_documents(rebill.uow, agency),
        "deliveries": delivery_documents(rebill.uow, agency),
    }
    if as_json:
        print_json(document)
        return
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

    rebill = open_app(db)
    try:
        enable_endpoint(rebill.uow, agency, endpoint)
    except BillingError as exc:
        fail(exc)
    out.print(f"{endpoint} enabled")


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
    try:
        replay(rebill.uow, agency, delivery, rebill.clock.now())
    except BillingError as exc:
        fail(exc)
    out.print(f"{delivery} queued again")


def gateway_context(rebill: App) -> GatewayContext:
    return rebill.gateway


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
    try:
        document = link_gateway(
            rebill.uow, gateway_context(rebill), agency, provider, account, rebill.clock.now()
        )
    except BillingError as exc:
        fail(exc)
    if as_json:
        print_json(document)
    else:
        print_gateway_status(document)


@gateway_app.command("status")
def gateway_status_command(
    agency: AgencyOption, db: DbOption = None, as_json: JsonOption = False
) -> None:
    """Link state and the Stripe Tax readiness checklist."""
    from rebill.services.payments.gateway import gateway_status

    rebill = open_app(db)
    try:
        document = gateway_status(rebill.uow, gateway_context(rebill), agency)
    except BillingError as exc:
        fail(exc)
    if as_json:
        print_json(document)
    else:
        print_gateway_status(document)


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
    try:
        document = onboard(
            rebill.uow,
            gateway_context(rebill),
            agency,
            country,
            email,
            rebill.clock.now(),
            session_sha256=None,  # the operator's: its return URLs need no panel session
        )
    except BillingError as exc:
        fail(exc)
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
    try:
        url = oauth_url(
            rebill.uow, gateway_context(rebill), agency, rebill.clock.now(), session_sha256=None
        )
    except BillingError as exc:
        fail(exc)
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
    try:
        document = link_oauth_code(
            rebill.uow, gateway_context(rebill), agency, code, rebill.clock.now()
        )
    except BillingError as exc:
        fail(exc)
    if as_json:
        print_json(document)
    else:
        print_gateway_status(document)


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
    try:
        document = save_card(
            rebill.uow,
            gateway_context(rebill),
            agency,
            sub_account,
            payment_method,
            rebill.clock.now(),
        )
    except BillingError as exc:
        fail(exc)
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

    rebill = open_app(db)
    try:
        document = set_application_fee(rebill.uow, agency, percent)
    except BillingError as exc:
        fail(exc)
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
    try:
        document = create_checkout(
            rebill.uow,
            gateway_context(rebill),
            agency,
            sub_account,
            action,
            amount,
            plan,
            number_type,
            rebill.clock.now(),
            invoice,
        )
    except BillingError as exc:
        fail(exc)
    if as_json:
        print_json(document)
    else:
        out.print(
            f"checkout {document['id']}: {document['amount']} + tax {document['tax']} "
            f"{document['currency']} → {document['url']}"
        )


@app.command("stripe-test-server")
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
    import os

    run_stripe_test_server(host, port, webhook_url, os.environ.get("REBILL_STRIPE_WEBHOOK_SECRET"))


@app.command("serve")
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


users_app = typer.Typer(no_args_is_help=True, help="People who sign in to the panel and portal.")
app.add_typer(users_app, name="users")


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option("--email")],
    agency: Annotated[str | None, typer.Option("--agency", help="Agency ID")] = None,
    role: Annotated[
        str | None, typer.Option("--role", help="admin, billing or settings (agency staff)")
    ] = None,
    sub_account: Annotated[
        str | None, typer.Option("--sub-account", help="A client of this sub-account")
    ] = None,
    platform: Annotated[bool, typer.Option("--platform", help="A platform console user")] = False,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the password from standard input (its first line)"
        ),
    ] = False,
    password_argv: Annotated[
        str | None, typer.Option("--password", hidden=True, help="Refused: use the prompt")
    ] = None,
    db: DbOption = None,
) -> None:
    """Create a sign-in: `--platform`, `--agency ID --role admin|billing|settings`, or
    `--agency ID --sub-account ID` for a client of the portal. The password is asked for
    (hidden, twice) or read from stdin with `--password-stdin`; never from the command line,
    where `ps` shows it to everyone on the machine."""
    from rebill.services.access.users import create_user

    if password_argv is not None:
        err.print(
            "[bold red]error[/]: --password is no longer accepted (the command line is visible "
            "to other users); answer the prompt or pipe it with --password-stdin",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    chosen = "platform" if platform else ("client" if sub_account else (role or "admin"))
    rebill = open_app(db)
    try:
        user = create_user(
            rebill.uow,
            rebill.passwords,
            email,
            password,
            chosen,
            agency,
            sub_account,
            rebill.clock.now(),
        )
    except BillingError as exc:
        fail(exc)
    out.print(f"created {user.role} user {user.email} ({user.id})")


def main() -> None:
    app()
