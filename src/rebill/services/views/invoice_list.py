"""The panel's invoices list: open ones first, then newest first with numbers compared as
numbers (ACME-000020 after ACME-000003, receipts in their own series beside invoices),
filtered by client, status and kind."""

from __future__ import annotations

import re
from typing import Any

STATUSES = ("open", "paid", "void", "uncollectible")
_DIGITS = re.compile(r"(\d+)$")


def number_key(number: str) -> tuple[str, int]:
    """`ACME-000020` as (`ACME-`, 20): numbers of one series compare as numbers."""
    found = _DIGITS.search(number)
    if not found:
        return (number, 0)
    return (number[: found.start()], int(found.group(1)))


def arrange(
    documents: list[dict[str, Any]], client: str | None, status: str | None, kind: str | None
) -> list[dict[str, Any]]:
    """The documents shown: filtered by `client` (a sub-account id), `status` and `kind`
    when given; open first, then by issue time and number, newest first."""
    shown = [
        d
        for d in documents
        if (not client or d["sub_account"] == client)
        and (not status or d["status"] == status)
        and (not kind or d["kind"] == kind)
    ]
    shown.sort(key=lambda d: (d["issued_at"], number_key(d["number"])[1]), reverse=True)
    shown.sort(key=lambda d: d["status"] != "open")  # stable: open first, each newest first
    return shown
