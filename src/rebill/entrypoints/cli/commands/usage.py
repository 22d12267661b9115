"""`rebill usage`: importing call records and the period's usage summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rebill.domain.errors import FieldError, ValidationError
from rebill.entrypoints.cli.boundary import open_app
from rebill.entrypoints.cli.common import (
    AgencyOption,
    DbOption,
    JsonOption,
    deliver_pending_alerts,
    err,
    out,
    parse_period,
    plain,
    print_json,
)

usage_app = typer.Typer(no_args_is_help=True, help="Import and summarize call records.")
cli = typer.Typer()
cli.add_typer(usage_app, name="usage")

SUMMARY_COLUMNS = (
    "sub-account",
    "billable min",
    "included used",
    "from credits",
    "postpaid",
    "numbers",
    "campaigns",
)


@usage_app.command("import")
def usage_import(
    file: Annotated[Path, typer.Argument(help="CSV or JSON Lines file.")],
    agency: AgencyOption,
    db: DbOption = None,
    as_json: JsonOption = False,
    strict: Annotated[bool, typer.Option(help="Exit 1 when a row is rejected.")] = False,
) -> None:
    """Import call records; duplicates by call_id are skipped and counted."""
    from rebill.services.usage.import_file import import_usage_file

    rebill = open_app(db)
    if not file.exists():
        raise ValidationError([], f"{file}: no such file")
    report = import_usage_file(rebill.uow, agency, file, rebill.clock.now())
    deliver_pending_alerts(rebill)
    for rejection in report.rejections:
        err.print(f"rejected {plain(rejection)}", highlight=False, soft_wrap=True)
    for conflict in report.conflict_details:
        err.print(f"conflict {plain(conflict)}", highlight=False, soft_wrap=True)
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
            | (  # only when there are some: the document's shape is otherwise unchanged
                {
                    "conflicts": report.conflicts,
                    "conflict_details": [
                        {"location": r.location, "field": r.field, "message": r.message}
                        for r in report.conflict_details
                    ],
                }
                if report.conflicts
                else {}
            )
        )
    else:
        out.print(
            f"imported {report.imported}, duplicates {report.duplicates}, "
            f"rejected {report.rejected}"
            + (f", conflicts {report.conflicts}" if report.conflicts else "")
        )
    if strict and report.rejected:
        raise typer.Exit(1)


@usage_app.command("summary")
def usage_summary_command(
    agency: AgencyOption,
    period: Annotated[str, typer.Option("--period", help="YYYY-MM")],
    by: Annotated[
        str | None,
        typer.Option("--by", help="campaign: one row per sub-account and campaign"),
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Minutes (billable, included used, from credits, postpaid), numbers and campaigns."""
    if by not in (None, "campaign"):
        raise ValidationError([FieldError("--by", f"unknown grouping {by!r} (campaign)", "by")])
    rebill = open_app(db)
    if by == "campaign":
        from rebill.services.views import reports

        _campaign_summary(
            reports.usage_by_campaign(rebill.uow, agency, parse_period(period)), as_json
        )
        return
    # Read through Core (`listing`): the summary loads no ORM, so it answers at once.
    from rebill.services.views import listing

    summary = listing.usage_summary(rebill.listing, agency, parse_period(period))
    if as_json:
        print_json(summary)
        return
    from rich.table import Table

    table = Table(title=f"Usage of {agency}, {summary['period']} ({summary['status']})")
    for column in SUMMARY_COLUMNS:
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


CAMPAIGN_COLUMNS = (
    "sub-account",
    "campaign",
    "calls",
    "billable min",
    "retail",
    "wholesale",
    "profit",
)


def _campaign_summary(report: dict[str, Any], as_json: bool) -> None:
    """`--by campaign`: the rows, then each sub-account's totals (docs/campaigns.md)."""
    if as_json:
        print_json(report)
        return
    from rich.table import Table

    table = Table(
        title=f"Usage by campaign of {report['agency']}, {report['period']} "
        f"({report['status']}, {report['currency']})"
    )
    for column in CAMPAIGN_COLUMNS:
        table.add_column(column, justify="left" if column in CAMPAIGN_COLUMNS[:2] else "right")
    for row in [*report["rows"], *({**r, "campaign": "total"} for r in report["sub_accounts"])]:
        table.add_row(
            row["sub_account"],
            row["campaign"] if row["campaign"] is not None else "(none)",
            str(row["calls"]),
            row["billable_minutes"],
            row["retail_amount"],
            row["wholesale_cost"],
            row["profit"],
        )
    out.print(table)
