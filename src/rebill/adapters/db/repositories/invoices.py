"""The agency's finalized documents and their lines, stored in bulk; the gapless series they
are numbered in (a counter row per series, moved in the same transaction); the platform's
reading across agencies."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from rebill.adapters.db.repositories.common import (
    AgencyBound,
    is_postgresql,
    table_of,
    utc_value,
    write_rows,
)
from rebill.adapters.db.rows import InvoiceLineRow, InvoiceRow, InvoiceSequenceRow
from rebill.domain.invoice import invoice_number, series_prefix
from rebill.domain.tax_decision import BuyerTaxIdentity
from rebill.services.ports.invoices import NumberedDraft, StoredInvoice, StoredLine

SERIES_KINDS = ("retail", "receipt", "credit_note")  # the series an issuer's prefix names
INVOICE_COLUMNS = (
    "agency_id",
    "number",
    "issuer",
    "kind",
    "sub_account_id",
    "period",
    "currency",
    "issued_at",
    "status",
    "subtotal_minor",
    "tax_minor",
    "total_minor",
    "tax_label",
    "tax_behavior",
    "usage_json",
    "idempotency_key",
    "credit_of",
    "tax_treatment",
    "buyer_json",
)
LINE_COLUMNS = (
    "agency_id",
    "number",
    "position",
    "code",
    "description",
    "quantity",
    "unit_price",
    "amount_micros",
    "amount_minor",
    "tax_minor",
)


_invoices = table_of(InvoiceRow)
_lines = table_of(InvoiceLineRow)


def _stored(row: Any, lines: list[StoredLine]) -> StoredInvoice:
    return StoredInvoice(
        number=row.number,
        agency_id=row.agency_id,
        issuer=row.issuer,
        kind=row.kind,
        sub_account_id=row.sub_account_id,
        period=row.period,
        currency=row.currency,
        issued_at=row.issued_at,
        status=row.status,
        subtotal_minor=row.subtotal_minor,
        tax_minor=row.tax_minor,
        total_minor=row.total_minor,
        tax_label=row.tax_label,
        usage=json.loads(row.usage_json) if row.usage_json else None,
        lines=lines,
        tax_behavior=row.tax_behavior,
        credit_of=row.credit_of,
        tax_treatment=row.tax_treatment or "standard",
        buyer=_buyer(row.buyer_json),
    )


def _buyer(text: str | None) -> BuyerTaxIdentity | None:
    if not text:
        return None
    data = json.loads(text)
    return BuyerTaxIdentity(data.get("country"), data.get("tax_id"), tuple(data.get("address", [])))


_NO_BUYER = BuyerTaxIdentity()
_MISSING = object()


def _buyer_json(buyer: BuyerTaxIdentity | None) -> str | None:
    if buyer is None or buyer == _NO_BUYER:
        return None
    return json.dumps(
        {"country": buyer.country, "tax_id": buyer.tax_id, "address": list(buyer.address_lines)}
    )


def _filtered(
    query: Any, agency_id: str | None, period: str | None, kind: str | None, number: str | None
) -> Any:
    i = _invoices.c
    if agency_id is not None:
        query = query.where(i.agency_id == agency_id)
    if period:
        query = query.where(i.period == period)
    if kind:
        query = query.where(i.kind == kind)
    if number:
        query = query.where(i.number == number)
    return query


def find_invoices(
    session: Session,
    agency_id: str | None,
    period: str | None,
    kind: str | None,
    number: str | None,
) -> list[StoredInvoice]:
    """Documents with their lines, filtered by what is given (every agency's when
    `agency_id` is None), by issue time then number; the lines are those of the documents
    read (joined on the same filters), in two Core queries."""
    i, ln = _invoices.c, _lines.c
    connection = session.connection()  # no autoflush: as a query would, flush first
    session.flush()
    rows = connection.execute(
        _filtered(select(_invoices), agency_id, period, kind, number).order_by(
            i.issued_at, i.number
        )
    ).all()
    lines: dict[tuple[str, str], list[StoredLine]] = defaultdict(list)
    if rows:
        joined = _lines.join(_invoices, and_(ln.agency_id == i.agency_id, ln.number == i.number))
        query = select(
            ln.agency_id,
            ln.number,
            ln.code,
            ln.description,
            ln.quantity,
            ln.unit_price,
            ln.amount_minor,
            ln.tax_minor,
        ).select_from(joined)
        query = _filtered(query, agency_id, period, kind, number)
        for agency, invoice_number, *line in connection.execute(
            query.order_by(ln.agency_id, ln.number, ln.position)
        ):
            lines[(agency, invoice_number)].append(StoredLine(*line))
    return [_stored(r, lines[(r.agency_id, r.number)]) for r in rows]


class SqlInvoiceRepository(AgencyBound):
    def reserve_numbers(self, issuer_prefix: str, kind: str, count: int) -> list[str]:
        """One statement: the series' counter moved by `count` (created at `count`), its row
        locked on PostgreSQL until the transaction ends (SQLite transactions hold the
        database's one write lock)."""
        series = series_prefix(issuer_prefix, kind)
        self.session.flush()
        connection = self.session.connection()
        marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        last = connection.exec_driver_sql(
            "INSERT INTO invoice_sequences (series, last_value) "
            f"VALUES ({marker}, {marker}) ON CONFLICT (series) DO UPDATE "
            "SET last_value = invoice_sequences.last_value + excluded.last_value "
            "RETURNING last_value",
            (series, count),
        ).scalar_one()
        first = int(last) - count + 1
        return [invoice_number(series, value) for value in range(first, first + count)]

    def number_for_key(self, idempotency_key: str) -> str | None:
        return self.session.scalar(
            select(InvoiceRow.number).where(
                InvoiceRow.agency_id == self.agency_id,
                InvoiceRow.idempotency_key == idempotency_key,
            )
        )

    def lock(self, number: str) -> None:
        self.session.execute(
            select(InvoiceRow.number)
            .where(InvoiceRow.agency_id == self.agency_id, InvoiceRow.number == number)
            .with_for_update()
        )

    def mark(self, number: str, status: str) -> str | None:
        """The only field that changes after finalizing."""
        row = self.session.get(InvoiceRow, (self.agency_id, number), with_for_update=True)
        if row is None:
            return None
        previous, row.status = row.status, status
        self.session.flush()
        return previous

    def save(self, documents: Sequence[NumberedDraft]) -> None:
        """Documents and their lines, each table in one statement (`write_rows`), the rows
        made as the statement takes them."""
        if not documents:
            return
        assert all(d.draft.agency_id == self.agency_id for d in documents), "another agency's"
        as_text = not is_postgresql(self.session)
        instants: dict[datetime, object] = {}  # a close's invoices share their issue instant

        def stored_instant(at: datetime) -> object:
            value = instants.get(at, _MISSING)
            if value is _MISSING:
                value = instants[at] = utc_value(at, as_text)
            return value

        def invoice_row(numbered: NumberedDraft) -> tuple[object, ...]:
            d = numbered.draft
            subtotal, tax, total = d.totals_minor()
            return (
                d.agency_id,
                numbered.number,
                d.issuer,
                d.kind,
                d.sub_account_id,
                d.period,
                d.currency,
                stored_instant(d.issued_at),
                numbered.status,
                subtotal,
                tax,
                total,
                d.tax.label,
                d.tax.behavior,
                json.dumps(d.usage) if d.usage is not None else None,
                d.idempotency_key,
                d.credit_of,
                d.tax.treatment if d.tax.treatment != "standard" else None,
                _buyer_json(d.buyer),
            )

        write_rows(self.session, "invoices", INVOICE_COLUMNS, map(invoice_row, documents))
        if any(numbered.draft.lines for numbered in documents):
            lines = (
                (
                    numbered.draft.agency_id,
                    numbered.number,
                    position,
                    line.code,
                    line.description,
                    line.quantity,
                    line.unit_price,
                    line.amount_micros,
                    line.amount_minor,
                    line.tax_minor,
                )
                for numbered in documents
                for position, line in enumerate(numbered.draft.lines)
            )
            write_rows(self.session, "invoice_lines", LINE_COLUMNS, lines)

    def find(
        self, period: str | None = None, kind: str | None = None, number: str | None = None
    ) -> list[StoredInvoice]:
        return find_invoices(self.session, self.agency_id, period, kind, number)


class SqlInvoiceDirectory:
    def __init__(self, session: Session) -> None:
        self.session = session

    def find(
        self, period: str | None = None, kind: str | None = None, number: str | None = None
    ) -> list[StoredInvoice]:
        return find_invoices(self.session, None, period, kind, number)

    def prefix_issued(self, prefix: str) -> bool:
        series = [series_prefix(prefix, kind) for kind in SERIES_KINDS]
        return bool(
            self.session.scalar(
                select(func.count())
                .select_from(InvoiceSequenceRow)
                .where(InvoiceSequenceRow.series.in_(series), InvoiceSequenceRow.last_value > 0)
            )
        )
