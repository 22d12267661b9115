"""The Core tables the quick reads declare (`adapters/db/listing.py`) are a subset of the ORM
rows' tables, column for column: same names, types, lengths, nullability and primary keys. A
column renamed or retyped in `rows.py` (and its migration) fails here, not in a read."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Table

from rebill.adapters.db import listing
from rebill.adapters.db.rows import Base


def shape(column: Column[object]) -> tuple[object, ...]:
    kind = column.type
    return (
        type(kind).__name__,
        getattr(kind, "length", None),
        column.nullable,
        column.primary_key,
    )


@pytest.mark.parametrize("table", listing.metadata.sorted_tables, ids=lambda t: t.name)
def test_a_listing_table_is_its_rows_table_in_part(table: Table) -> None:
    rows = Base.metadata.tables[table.name]
    for column in table.columns:
        assert column.name in rows.columns, f"{table.name}.{column.name}"
        assert shape(column) == shape(rows.columns[column.name]), f"{table.name}.{column.name}"
    # The whole primary key, so that a read by key names every part of it.
    assert [c.name for c in table.primary_key] == [c.name for c in rows.primary_key]


def test_the_listing_reads_nine_tables() -> None:
    assert sorted(listing.metadata.tables) == [
        "agencies",
        "invoice_lines",
        "invoices",
        "period_campaigns",
        "period_closes",
        "period_usage",
        "phone_numbers",
        "sub_accounts",
        "usage_counters",
    ]
