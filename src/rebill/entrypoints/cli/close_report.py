"""The printed report of a close (`rebill close`, `rebill demo`): an agency's retail invoices,
its wholesale invoice and its profit, as Rich tables."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table


def print_close(out: Console, document: dict[str, Any], period: str) -> None:
    """An agency's close: its retail invoices, its wholesale invoice and the profit."""
    currency = document["currency"]
    table = Table(title=f"{document['agency']}: retail invoices for {period} ({currency})")
    for column in ("invoice", "sub-account", "overage", "plan + numbers", "tax", "total"):
        table.add_column(
            column, justify="left" if column in ("invoice", "sub-account") else "right"
        )
    for inv in document["retail_invoices"]:
        usage = sum_lines(inv["lines"], "voice.")
        fees = sum_lines(inv["lines"], "plan.", "number.")
        table.add_row(inv["number"], inv["sub_account"], usage, fees, inv["tax"], inv["total"])
    out.print(table)
    wholesale = document["wholesale_invoice"]
    wtable = Table(title=f"wholesale invoice {wholesale['number']} to {document['agency']}")
    for column in ("line", "quantity", "unit price", "amount"):
        wtable.add_column(column, justify="left" if column == "line" else "right")
    for line in wholesale["lines"]:
        wtable.add_row(line["code"], line["quantity"], line["unit_price"] or "", line["amount"])
    wtable.add_row("[bold]total", "", "", f"[bold]{wholesale['total']}")
    out.print(wtable)
    profit = document["profit"]
    out.print(
        f"[bold]profit {period}[/]: revenue {profit['revenue']} − wholesale "
        f"{profit['cost']} = [bold green]{profit['profit']} {currency}[/]"
    )


def sum_lines(lines: list[dict[str, Any]], *prefixes: str) -> str:
    total = sum(
        (Decimal(line["amount"]) for line in lines if line["code"].startswith(prefixes)), Decimal(0)
    )
    return str(total) if total else "—"
