"""The command line's quick reads (issue 16) print what the unit of work's reads printed, byte
for byte: `rebill usage summary` and `rebill invoices list` on the demo database (a closed
month, the open month so far, receipts, a credit note), as tables and as JSON, on SQLite and
PostgreSQL. Each command runs twice in this process: as it is (SQLAlchemy Core,
`services.views.listing`) and with its read swapped for the ORM's (`services.views.reports`
over `app.uow`), which is how the commands read before."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from rebill.bootstrap import App, build
from rebill.config import Settings
from rebill.demo.seed import seed_month
from rebill.domain.period import Period
from rebill.entrypoints.cli.app import app as cli
from rebill.services.invoicing.documents import line_documents as close_line_documents
from rebill.services.payments.collect import refund_invoice
from rebill.services.views import listing, reports

NOW = datetime(2026, 12, 15, 12, tzinfo=UTC)  # conftest's REBILL_NOW
CLOSED, OPEN, EMPTY = "2026-11", "2026-12", "2026-10"
REFUNDED = "ACME-R-000001"  # a paid receipt of the demo: its refund issues a credit note

SUMMARIES = [
    ["usage", "summary", "--agency", "acme", "--period", period]
    for period in (CLOSED, OPEN, EMPTY, "2027-01")
]
LISTS = [
    ["invoices", "list"],
    ["invoices", "list", "--agency", "acme"],
    ["invoices", "list", "--period", CLOSED],
    ["invoices", "list", "--agency", "acme", "--period", CLOSED],
    ["invoices", "list", "--period", EMPTY],
    ["invoices", "list", "--agency", ""],  # no agency named: the platform's view
]
REFUSED = [
    ["usage", "summary", "--agency", "nosuch", "--period", CLOSED],
    ["usage", "summary", "--agency", "", "--period", CLOSED],
    ["invoices", "list", "--agency", "nosuch"],
    ["invoices", "list", "--period", "2026-13"],
]


@pytest.fixture
def demo(db_url: str) -> App:
    """The demo's database (`rebill demo`'s month and the open month so far) with a credit
    note, and the app over it whose unit of work reads as the commands read before."""
    app = build(Settings(database_url=db_url, now=NOW))
    seed_month(app.uow, app.gateway, NOW, lambda _: None)
    refund_invoice(app.uow, app.gateway, "acme", REFUNDED, "10.00", NOW)
    yield app
    app.dispose()


def through_the_orm(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands' reads as they were: the services' views over the unit of work."""

    def usage_summary(_reader: Any, agency_id: str, period: Period) -> dict[str, Any]:
        return reports.usage_summary(app.uow, agency_id, period)

    def list_invoices(
        _reader: Any, agency_id: str | None, period: Period | None
    ) -> list[dict[str, Any]]:
        return reports.list_invoices(app.uow, agency_id, period)

    monkeypatch.setattr(listing, "usage_summary", usage_summary)
    monkeypatch.setattr(listing, "list_invoices", list_invoices)


def run(args: list[str], db_url: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [*args, "--db", db_url])
    return result.exit_code, result.stdout, result.stderr


def test_the_quick_reads_print_what_the_orm_reads_printed(
    demo: App, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = [[*args, *as_json] for args in SUMMARIES + LISTS for as_json in ([], ["--json"])]
    commands += REFUSED
    quick = {tuple(args): run(args, db_url) for args in commands}
    through_the_orm(demo, monkeypatch)
    for args in commands:
        assert quick[tuple(args)] == run(args, db_url), args

    # What was compared holds what the reads must get right.
    status, listed, _ = quick[("invoices", "list", "--json")]
    documents = json.loads(listed)["data"]
    assert status == 0 and {d["kind"] for d in documents} == {
        "retail",
        "wholesale",
        "receipt",
        "credit_note",
    }
    assert [d["credit_of"] for d in documents if "credit_of" in d] == [REFUNDED]
    assert any(d["usage"] for d in documents) and all(d["lines"] for d in documents)
    for period, word in ((CLOSED, "closed"), (OPEN, "open")):
        args = ("usage", "summary", "--agency", "acme", "--period", period)
        code, text, _ = quick[(*args, "--json")]
        summary = json.loads(text)
        assert code == 0 and summary["status"] == word and len(summary["sub_accounts"]) == 12
        assert any(row["billable_minutes"] != "0.000" for row in summary["sub_accounts"])
        assert any(row["numbers"] for row in summary["sub_accounts"])
        assert f"Usage of acme, {period} ({word})" in quick[args][1]
    for args in REFUSED:
        code, text, error = quick[tuple(args)]
        assert code != 0 and not text and error, args

    # The list's lines are formatted as the close's documents format them.
    with demo.uow() as uow:
        for invoice in uow.platform.invoices.find():
            assert listing.line_documents(invoice) == close_line_documents(invoice)
