"""`rebill`: the command line (INTERFACES.md). Each command lives in a module of `commands/`,
imported only when that command runs; this module holds the table of them (`COMMANDS`, with
the line `rebill --help` shows for each) and `main`, the console script.

A command builds the app through `bootstrap` (`boundary.open_app`), runs one service, and
prints Rich tables or, with `--json`, one JSON document on stdout. Expected failures go to
stderr with a non-zero status (`boundary.EXIT_CODES`)."""

from __future__ import annotations

import gc

import typer

from rebill.entrypoints.cli.lazy import Entry, LazyGroup
from rebill.entrypoints.process import tune_gc

# In the order `rebill --help` lists them. The help is the first paragraph of the command's
# docstring (or its group's help), checked against the modules by tests/unit/test_cli_app.py.
COMMANDS: dict[str, Entry] = {
    "apply": Entry(
        "catalog",
        "Create or update platform, agencies, plans, sub-accounts and numbers from a catalog.",
    ),
    "close": Entry(
        "invoices", "Close a period: retail invoices, the wholesale invoice and the profit report."
    ),
    "demo": Entry(
        "demo",
        "A fresh demo: a platform, an agency, plans, sub-accounts, a month of calls, closed.",
    ),
    "authorize": Entry(
        "authorize",
        "May this sub-account start a call now, and for how long (BILLING_MODEL §8)?",
    ),
    "stripe-test-server": Entry(
        "serve", "Run the in-repo Stripe test server in the foreground (for tests and the demo)."
    ),
    "serve": Entry("serve", "Serve the REST API (OpenAPI at /openapi.json, docs at /docs)."),
    "worker": Entry(
        "worker", "Run the periodic jobs (webhooks, top-ups, alerts, dunning) until stopped."
    ),
    "consume": Entry(
        "consume", "Record call-ended events from a NATS JetStream stream, as POST /v1/calls does."
    ),
    "usage": Entry("usage", "Import and summarize call records."),
    "invoices": Entry("invoices", "Invoices: list, PDF, pay (manual), charge (Stripe), refund."),
    "credits": Entry("credits", "Prepaid credits."),
    "caps": Entry("accounts", "Usage caps and alert thresholds."),
    "sub-accounts": Entry("accounts", "Sub-account states."),
    "alerts": Entry("alerts", "Alerts (each fires once)."),
    "dunning": Entry("dunning", "Failed charges: retries and suspensions."),
    "webhooks": Entry("webhooks", "Outbound webhooks (signed)."),
    "gateway": Entry("gateway", "The agency's payment gateway."),
    "checkout": Entry("gateway", "Hosted checkouts for client actions."),
    "keys": Entry("keys", "API keys (shown once, stored hashed)."),
    "domains": Entry("domains", "Agencies' custom portal domains (the platform approves)."),
    "wholesale": Entry("wholesale", "The platform's wholesale card: in force now, and scheduled."),
    "users": Entry(
        "users", "People who sign in to the panel and portal: create, set-role, disable, enable."
    ),
    "db": Entry("db", "The database's upkeep: monthly partitions."),
}


class RootGroup(LazyGroup):
    entries = COMMANDS
    package = "rebill.entrypoints.cli.commands"


app = typer.Typer(
    cls=RootGroup,
    no_args_is_help=True,
    add_completion=False,
    help="White-label billing for AI phone-call minutes.",
)


@app.callback()
def root() -> None:
    # Typer builds a group only for an app with a callback or registered commands; the
    # commands here are `RootGroup`'s.
    pass


def main() -> None:
    tune_gc()
    try:
        app()
    finally:
        # What is left is the interpreter's exit: freeing every object one by one takes
        # longer than most commands. The command's databases are closed already
        # (`boundary.guarded`); the output streams are flushed at exit as always.
        gc.freeze()
