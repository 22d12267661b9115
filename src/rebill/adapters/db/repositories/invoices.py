"""The agency's finalized documents and their lines, stored in bulk; the gapless series they
are numbered in (a counter row per series, moved in the same transaction); the platform's
reading across agencies."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from rebill.adapters.db.repositories.common import AgencyBound
from rebill.adapters.db.rows import InvoiceLineRow, InvoiceRow, InvoiceSequenceRow
from rebill.domain.invoice import invoice_number, series_prefix
from rebill.domain.tax_decision import BuyerTaxIdentity
from rebill.services.ports.invoices import NumberedDraft, StoredInvoice, StoredLine

SERIES_KINDS = ("retail", "receipt", "credit_note")  # the series an issuer's prefix names


def _stored(row: InvoiceRow, lines: list[StoredLine]) -> StoredInvoice:
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


def _buyer_json(buyer: BuyerTaxIdentity | None) -> str | None:
    if buyer is None or buyer == BuyerTaxIdentity():
        return None
    return json.dumps(
        {"country": buyer.country, "tax_id": buyer.tax_id, "address": list(buyer.address_lines)}
    )


def find_invoices(
    session: Session,
    agency_id: str | None,
    period: str | None,
    kind: str | None,
    number: str | None,
) -> list[StoredInvoice]:
    """Documents with their lines, filtered by what is given (every agency's when
    `agency_id` is None), by issue time then number."""
    query = select(InvoiceRow)
    if agency_id is not None:
        query = query.where(InvoiceRow.agency_id == agency_id)
    if period:
        query = query.where(InvoiceRow.period == period)
    if kind:
        query = query.where(InvoiceRow.kind == kind)
    if number:
        query = query.where(InvoiceRow.number == number)
    rows = list(session.scalars(query.order_by(InvoiceRow.issued_at, InvoiceRow.number)))
    lines: dict[tuple[str, str], list[StoredLine]] = defaultdict(list)
    if rows:
        keys = {(r.agency_id, r.number) for r in rows}
        agencies = {r.agency_id for r in rows}
        for line in session.scalars(
            select(InvoiceLineRow)
            .where(InvoiceLineRow.agency_id.in_(agencies))
            .order_by(InvoiceLineRow.number, InvoiceLineRow.position)
        ):
            if (line.agency_id, line.number) in keys:
                lines[(line.agency_id, line.number)].append(
                    StoredLine(
                        line.code,
                        line.description,
                        line.quantity,
                        line.unit_price,
                        line.amount_minor,
                        line.tax_minor,
                    )
                )
    return [_stored(r, lines[(r.agency_id, r.number)]) for r in rows]


class SqlInvoiceRepository(AgencyBound):
    def reserve_numbers(self, issuer_prefix: str, kind: str, count: int) -> list[str]:
        """Locked on PostgreSQL; SQLite transactions hold the database's one write lock."""
        series = series_prefix(issuer_prefix, kind)
        row = self.session.execute(
            select(InvoiceSequenceRow).where(InvoiceSequenceRow.series == series).with_for_update()
        ).scalar_one_or_none()
        if row is None:
            row = InvoiceSequenceRow(series=series, last_value=0)
            self.session.add(row)
        first = row.last_value + 1
        row.last_value += count
        self.session.flush()
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
        """Documents and their lines in two bulk statements."""
        if not documents:
            return
        assert all(d.draft.agency_id == self.agency_id for d in documents), "another agency's"
        self.session.execute(
            insert(InvoiceRow),
            [
                {
                    "agency_id": d.agency_id,
                    "number": numbered.number,
                    "issuer": d.issuer,
                    "kind": d.kind,
                    "sub_account_id": d.sub_account_id,
                    "period": d.period,
                    "currency": d.currency,
                    "issued_at": d.issued_at,
                    "status": numbered.status,
                    "subtotal_minor": d.subtotal_minor,
                    "tax_minor": d.tax_minor,
                    "total_minor": d.total_minor,
                    "tax_label": d.tax.label,
                    "tax_behavior": d.tax.behavior,
                    "usage_json": json.dumps(d.usage) if d.usage is not None else None,
                    "idempotency_key": d.idempotency_key,
                    "credit_of": d.credit_of,
                    "tax_treatment": (d.tax.treatment if d.tax.treatment != "standard" else None),
                    "buyer_json": _buyer_json(d.buyer),
                }
                for numbered in documents
                for d in (numbered.draft,)
            ],
        )
        lines = [
            {
                "agency_id": numbered.draft.agency_id,
                "number": numbered.number,
                "position": position,
                "code": line.code,
                "description": line.description,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "amount_micros": line.amount_micros,
                "amount_minor": line.amount_minor,
                "tax_minor": line.tax_minor,
            }
            for numbered in documents
            for position, line in enumerate(numbered.draft.lines)
        ]
        if lines:
            self.session.execute(insert(InvoiceLineRow), lines)

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
