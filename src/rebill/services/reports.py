"""Read-only views: the usage summary of a period (measured live while it is open, as stored
once closed) and invoice listings."""

from __future__ import annotations

import json
from typing import Any

from rebill.domain.errors import NotFoundError
from rebill.domain.money import format_minor, minutes_text
from rebill.domain.period import Period
from rebill.services.close_period import measure
from rebill.services.ports import StoredInvoice, UnitOfWork


def usage_summary(uow: UnitOfWork, agency_id: str, period: Period) -> dict[str, Any]:
    with uow:
        store = uow.store
        agency = store.get_agency(agency_id)
        if agency is None:
            raise NotFoundError(f"agency {agency_id!r} does not exist")
        label = str(period)
        numbers = store.numbers(agency_id)
        rows: list[dict[str, Any]] = []
        closed = store.period_close(agency_id, label) is not None
        if closed:
            for row in store.period_usage(agency_id, label):
                rows.append({"sub_account": row.sub_account_id, **json.loads(row.usage_json)})
        else:
            start, end = period.bounds(agency.tz)
            plans = store.plans(agency_id)
            measurement = measure(
                store,
                agency,
                period,
                store.calls_billed_by(agency_id, label, start, end, billed=False),
                store.plan_history(agency_id, plans),
                store.wholesale_card(agency_id),
            )
            for sub_id in sorted(measurement.subs):
                meter = measurement.subs[sub_id].meter
                held = [n for n in numbers.get(sub_id, []) if n.rented_at < end and n.held_at(end)]
                rows.append(
                    {
                        "sub_account": sub_id,
                        "billable_minutes": minutes_text(meter.billable_seconds),
                        "included_minutes_used": minutes_text(meter.included_used_seconds),
                        "credit_minutes": minutes_text(meter.credit_seconds),
                        "postpaid_minutes": minutes_text(meter.postpaid_seconds),
                        "numbers": len(held),
                        "campaigns": len(meter.campaigns),
                    }
                )
        return {
            "agency": agency_id,
            "period": label,
            "status": "closed" if closed else "open",
            "sub_accounts": rows,
        }


def invoice_document(invoice: StoredInvoice) -> dict[str, Any]:
    def money(minor: int) -> str:
        return format_minor(minor, invoice.currency)

    return {
        "number": invoice.number,
        "kind": invoice.kind,
        "issuer": invoice.issuer,
        "agency": invoice.agency_id,
        "sub_account": invoice.sub_account_id,
        "period": invoice.period,
        "issued_at": invoice.issued_at.isoformat(),
        "status": invoice.status,
        "currency": invoice.currency,
        "lines": [
            {
                "code": ln.code,
                "description": ln.description,
                "quantity": ln.quantity,
                "unit_price": ln.unit_price,
                "amount": money(ln.amount_minor),
                "tax": money(ln.tax_minor),
            }
            for ln in invoice.lines
        ],
        "subtotal": money(invoice.subtotal_minor),
        "tax": money(invoice.tax_minor),
        "total": money(invoice.total_minor),
        "usage": invoice.usage,
    }


def list_invoices(
    uow: UnitOfWork,
    agency_id: str | None,
    period: Period | None,
) -> list[dict[str, Any]]:
    with uow:
        if agency_id and uow.store.get_agency(agency_id) is None:
            raise NotFoundError(f"agency {agency_id!r} does not exist")
        invoices = uow.store.invoices(agency_id=agency_id, period=str(period) if period else None)
        return [invoice_document(i) for i in invoices]
