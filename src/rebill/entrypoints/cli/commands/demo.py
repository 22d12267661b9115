"""`rebill demo`: a fresh SQLite database with the demo's month closed and summarized; with
`--serve`, the panel, the portal and the API over it, payments through the in-repo Stripe
test server."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rebill.domain.errors import BillingError
from rebill.entrypoints.cli.boundary import open_app, opened
from rebill.entrypoints.cli.common import DbOption, JsonOption, err, out, plain

if TYPE_CHECKING:
    from rebill.demo.seed import DemoMonth

cli = typer.Typer()

DEMO_URL = "sqlite:///rebill-demo.db"
DEMO_MAIL_DIR = "rebill-demo-mail"
USAGE_COLUMNS = ("sub-account", "billable", "included used", "from credits", "postpaid")


@cli.command("demo")
def demo_command(
    db: DbOption = None,
    as_json: JsonOption = False,
    serve: Annotated[bool, typer.Option("--serve", help="Then serve the panel and API.")] = False,
    host: Annotated[str, typer.Option(help="With --serve: interface")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="With --serve: TCP port")] = 8000,
) -> None:
    """A fresh demo: a platform, an agency, plans, sub-accounts, a month of calls, closed."""
    url = db or DEMO_URL
    month = run_demo(url, as_json)
    if as_json:  # unlike `print_json`, ASCII only: as the demo has always printed it
        document = {"period": str(month.period), "calls": month.calls_imported}
        sys.stdout.write(json.dumps({**document, "agencies": month.documents}, indent=2) + "\n")
    else:
        print_demo(month, url)
    if serve:
        serve_demo(url, host, port)


def run_demo(url: str, as_json: bool) -> DemoMonth:
    """Write the demo's month into `url`, which must be empty (the default file is made
    anew), showing its progress on stderr."""
    from rich.progress import Progress

    from rebill.bootstrap import database_is_empty
    from rebill.demo.seed import FIRST_STEP, SEED_STEPS, seed_month

    if url == DEMO_URL:
        for suffix in ("", "-wal", "-shm"):
            Path(f"rebill-demo.db{suffix}").unlink(missing_ok=True)
    app = open_app(url)
    if not database_is_empty(app):
        err.print(f"[bold red]error[/]: the demo needs an empty database; {plain(url)} has data")
        raise typer.Exit(1)
    try:
        with Progress(console=err.console, transient=True, disable=as_json) as progress:
            task = progress.add_task(FIRST_STEP, total=SEED_STEPS)

            def step(next_step: str | None) -> None:
                if next_step is None:
                    progress.update(task, advance=1)
                else:
                    progress.update(task, advance=1, description=next_step)

            return seed_month(app.uow, app.gateway, app.clock.now(), step)
    except BillingError as exc:  # the demo's own data: say so, whatever the error
        err.print(f"[bold red]error[/] ({exc.code}): {plain(exc.message)}")
        raise typer.Exit(1) from None


def serve_demo(url: str, host: str, port: int) -> None:
    """`rebill demo --serve`: the panel, portal and API over the demo database, payments
    through the in-repo Stripe test server, and the sign-ins printed."""
    import uvicorn

    from rebill.bootstrap import build, start_demo_stripe
    from rebill.config import Settings
    from rebill.demo.data import AGENCY
    from rebill.demo.seed import save_demo_cards
    from rebill.demo.users import create_demo_users
    from rebill.entrypoints.api.app import create_app
    from rebill.services.payments.gateway import link_gateway

    public_url = f"http://{host}:{port}"
    base = Settings.from_env(url)
    if not base.smtp_host and not base.mail_dir:  # invitations and alerts land in files
        base = dataclasses.replace(base, mail_dir=DEMO_MAIL_DIR)
    settings, account, stripe_server = start_demo_stripe(base, public_url)
    app = opened(build(settings))
    now = app.clock.now()
    link_gateway(app.uow, app.gateway, AGENCY, "stripe", account, now)
    declining = save_demo_cards(app.uow, app.gateway, now)
    users = create_demo_users(app.uow, app.passwords, now, public_url)
    out.print("[bold]sign in[/] (passwords are new for each run):")
    for role, email, password, link in users:
        out.print(f"  {role:<8} {email:<30} {password:<14} {link}", highlight=False, soft_wrap=True)
    out.print(
        f"API docs: {public_url}/docs · Stripe test server: {stripe_server.url} "
        f"(acme is linked to {account}) · Ctrl-C stops"
    )
    mail = (
        f"SMTP {settings.smtp_host}:{settings.smtp_port}"
        if settings.smtp_host
        else f"files in {Path(settings.mail_dir or DEMO_MAIL_DIR).resolve()}/"
    )
    out.print(f"e-mails (invitations from the panel's Users page, alerts) go to {mail}")
    out.print(
        f"saved test cards: every client and acme itself pay with visa •••• 4242, except "
        f"{declining} (a card that declines), so the panel's Charge card shows both outcomes"
    )
    try:
        uvicorn.run(create_app(app, background=True), host=host, port=port, log_level="warning")
    finally:
        stripe_server.stop()


def print_demo(month: DemoMonth, url: str) -> None:
    from rich.table import Table

    from rebill.entrypoints.cli.close_report import print_close

    period = month.period
    out.print(
        f"[bold]rebill demo[/]: {month.calls_imported:,} calls in {period}, month closed, "
        f"database {url}"
    )
    for document in month.documents:
        usage = Table(title="usage per sub-account (minutes)")
        for column in USAGE_COLUMNS:
            usage.add_column(column, justify="left" if column == "sub-account" else "right")
        for inv in document["retail_invoices"]:
            u: dict[str, Any] = inv["usage"]
            usage.add_row(
                inv["sub_account"],
                u["billable_minutes"],
                u["included_minutes_used"],
                u["credit_minutes"],
                u["postpaid_minutes"],
            )
        out.print(usage)
        print_close(out.console, document, str(period))
    out.print(
        f"next: [cyan]rebill invoices list --db {url}[/], "
        f"[cyan]rebill usage summary --agency acme --period {period} --db {url}[/], "
        "[cyan]rebill demo --serve[/] (the panel and the portal)",
        highlight=False,
    )
