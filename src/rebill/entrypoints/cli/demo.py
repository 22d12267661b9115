"""`rebill demo`: a fresh SQLite database, a month of calls, the month closed, a summary."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from rebill.bootstrap import App, build, database_is_empty
from rebill.config import Settings
from rebill.demo.data import AGENCY, TIMEZONE, demo_calls, demo_catalog
from rebill.domain.errors import BillingError
from rebill.domain.period import Period
from rebill.entrypoints.cli.close_report import print_close
from rebill.services.catalog.apply import apply_catalog
from rebill.services.invoicing.close import close_period
from rebill.services.usage.import_file import import_usage
from rebill.services.wallets.credits import record_credit_purchase

DEMO_URL = "sqlite:///rebill-demo.db"


def run_demo(db: str | None, as_json: bool, out: Console, err: Console) -> None:

    url = db or DEMO_URL
    if url == DEMO_URL:
        for suffix in ("", "-wal", "-shm"):
            Path(f"rebill-demo.db{suffix}").unlink(missing_ok=True)
    settings = Settings.from_env(url)
    app = build(settings)
    if not database_is_empty(app):
        err.print(f"[bold red]error[/]: the demo needs an empty database; {url} has data")
        raise typer.Exit(1)
    now = app.clock.now()
    period = Period.containing(now, ZoneInfo(TIMEZONE)).previous()
    try:
        with Progress(console=err, transient=True, disable=as_json) as progress:
            task = progress.add_task("applying the catalog", total=5)
            apply_catalog(app.uow, demo_catalog(period), "demo catalog", now)
            progress.update(task, advance=1, description="generating and importing calls")
            calls = list(demo_calls(period))
            report = import_usage(app.uow, AGENCY, enumerate(calls, start=1), "demo calls", now)
            progress.update(task, advance=1, description="buying credits")
            for sub_id in ("summit-hvac", "harbor-realty"):
                record_credit_purchase(
                    app.uow,
                    AGENCY,
                    sub_id,
                    "25.00",
                    period.start(ZoneInfo(TIMEZONE)),
                    f"demo-{sub_id}",
                )
            progress.update(task, advance=1, description=f"closing {period}")
            documents = close_period(app.uow, period, None, now, app.gateway)
            progress.update(task, advance=1, description="calls of the month so far")
            import_usage(
                app.uow,
                AGENCY,
                enumerate(open_month_calls(period.next(), now)),
                "demo calls (this month)",
                now,
            )
            progress.update(task, advance=1)
    except BillingError as exc:
        err.print(f"[bold red]error[/] ({exc.code}): {exc.message}")
        raise typer.Exit(1) from None
    if as_json:
        import json
        import sys

        sys.stdout.write(
            json.dumps(
                {"period": str(period), "calls": report.imported, "agencies": documents}, indent=2
            )
            + "\n"
        )
        return
    _print(out, documents, period, report.imported, url)


def open_month_calls(period: Period, now: datetime) -> Iterator[dict[str, Any]]:
    """The open month's calls up to now, so that "this month" has figures and charts."""
    for call in demo_calls(period, seed=11):
        if datetime.fromisoformat(call["started_at"]) < now:
            yield {**call, "call_id": "open-" + call["call_id"]}


def serve_demo(db: str | None, host: str, port: int, out: Console, err: Console) -> None:
    """`rebill demo --serve`: the panel, portal and API over the demo database, payments
    through the in-repo Stripe test server, and the sign-ins printed."""
    import uvicorn

    from rebill.bootstrap import start_demo_stripe
    from rebill.demo.users import create_demo_users
    from rebill.entrypoints.api.app import create_app
    from rebill.services.payments.gateway import link_gateway

    url = db or DEMO_URL
    public_url = f"http://{host}:{port}"
    settings, account, stripe_server = start_demo_stripe(Settings.from_env(url), public_url)
    app = build(settings)
    now = app.clock.now()
    link_gateway(app.uow, app.gateway, AGENCY, "stripe", account, now)
    declining = save_demo_cards(app, now)
    users = create_demo_users(app.uow, app.passwords, now, public_url)
    out.print("[bold]sign in[/] (passwords are new for each run):")
    for role, email, password, link in users:
        out.print(f"  {role:<8} {email:<30} {password:<14} {link}", highlight=False, soft_wrap=True)
    out.print(
        f"API docs: {public_url}/docs · Stripe test server: {stripe_server.url} "
        f"(acme is linked to {account}) · Ctrl-C stops"
    )
    out.print(
        f"saved test cards: every client and acme itself pay with visa •••• 4242, except "
        f"{declining} (a card that declines), so the panel's Charge card shows both outcomes"
    )
    try:
        uvicorn.run(create_app(app, background=True), host=host, port=port, log_level="warning")
    finally:
        stripe_server.stop()


def save_demo_cards(app: App, now: datetime) -> str:
    """Test cards on the demo's Stripe test server: one per client (the last one declines)
    and the agency's own (it pays the platform's wholesale invoice). Returns the declining
    client."""
    from rebill.services.payments.collect import save_card
    from rebill.services.views.sub_accounts import sub_account_ids

    subs = sorted(sub_account_ids(app.uow, AGENCY))
    for sub in subs:
        card = "pm_card_chargeCustomerFail" if sub == subs[-1] else "pm_card_visa"
        save_card(app.uow, app.gateway, AGENCY, sub, card, now)
    save_card(app.uow, app.gateway, AGENCY, None, "pm_card_visa", now)
    return subs[-1]


def _print(
    out: Console, documents: list[dict[str, Any]], period: Period, calls: int, url: str
) -> None:
    out.print(f"[bold]rebill demo[/]: {calls:,} calls in {period}, month closed, database {url}")
    for document in documents:
        usage = Table(title="usage per sub-account (minutes)")
        for column in ("sub-account", "billable", "included used", "from credits", "postpaid"):
            usage.add_column(column, justify="left" if column == "sub-account" else "right")
        for inv in document["retail_invoices"]:
            u = inv["usage"]
            usage.add_row(
                inv["sub_account"],
                u["billable_minutes"],
                u["included_minutes_used"],
                u["credit_minutes"],
                u["postpaid_minutes"],
            )
        out.print(usage)
        print_close(out, document, str(period))
    out.print(
        f"next: [cyan]rebill invoices list --db {url}[/], "
        f"[cyan]rebill usage summary --agency acme --period {period} --db {url}[/], "
        "[cyan]rebill demo --serve[/] (the panel and the portal)",
        highlight=False,
    )
