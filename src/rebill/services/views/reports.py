"""Read-only views: the usage summary of a period (measured live while it is open, as stored
once closed) and invoice listings."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from rebill.domain.money import MICRO_DECIMALS, format_minor, format_scaled, minutes_text
from rebill.domain.period import Period
from rebill.domain.usage import SECONDS_SCALE, PeriodUsage
from rebill.services.accounts.tenant import open_agency
from rebill.services.invoicing.documents import line_documents
from rebill.services.ports import StoredInvoice, UnitOfWorkFactory, UsageKey


def usage_summary(uow_factory: UnitOfWorkFactory, agency_id: str, period: Period) -> dict[str, Any]:
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        label = str(period)
        numbers = tenant.numbers.all()
        rows: list[dict[str, Any]] = []
        closed = tenant.periods.close_of(label) is not None
        if closed:
            for line in tenant.periods.usage(label):
                rows.append({"sub_account": line.sub_account_id, **line.usage})
        else:
            end = period.end(agency.tz)
            counters = tenant.usage.counters(period=label)
            campaigns = tenant.usage.campaign_counts(label)
            for sub_id in tenant.sub_accounts.ids():
                usage = counters.get(UsageKey(sub_id, label), PeriodUsage())
                held = [n for n in numbers.get(sub_id, []) if n.rented_at < end and n.held_at(end)]
                credit = Fraction(usage.credit_seconds_e6, SECONDS_SCALE)
                postpaid = Fraction(usage.postpaid_seconds_e6, SECONDS_SCALE)
                rows.append(
                    {
                        "sub_account": sub_id,
                        "billable_minutes": minutes_text(usage.billable_seconds),
                        "included_minutes_used": minutes_text(usage.included_used_seconds),
                        "credit_minutes": minutes_text(credit),
                        "postpaid_minutes": minutes_text(postpaid),
                        "numbers": len(held),
                        "campaigns": campaigns.get(sub_id, 0),
                    }
                )
        return {
            "agency": agency_id,
            "period": label,
            "status": "closed" if closed else "open",
            "sub_accounts": rows,
        }


NO_CAMPAIGN_LABEL = "(none)"  # how tables show the row of calls that name no campaign


def usage_by_campaign(
    uow_factory: UnitOfWorkFactory, agency_id: str, period: Period
) -> dict[str, Any]:
    """The period's calls per sub-account and campaign (docs/campaigns.md): calls, billable
    time, retail amount (the calls' overage cost, from credits or postpaid) and wholesale
    cost. Amounts are exact micro-unit sums (six decimals), so the rows of a sub-account add
    up to its totals to the last digit; `campaign` None is the calls that name none."""
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        label = str(period)
        closed = tenant.periods.close_of(label) is not None
        found = tenant.campaigns.usage_by_campaign(label)
    totals: dict[str, list[int]] = {}
    for u in found:
        sums = totals.setdefault(u.sub_account_id, [0, 0, 0, 0])
        for index, value in enumerate(
            (u.calls, u.billable_seconds, u.retail_micros, u.wholesale_micros)
        ):
            sums[index] += value
    return {
        "agency": agency_id,
        "period": label,
        "status": "closed" if closed else "open",
        "group_by": "campaign",
        "currency": agency.currency,
        "rows": [
            _campaign_row(
                u.sub_account_id,
                u.campaign_id,
                u.calls,
                u.billable_seconds,
                u.retail_micros,
                u.wholesale_micros,
            )
            for u in found
        ],
        "sub_accounts": [
            _campaign_row(sub, None, calls, seconds, retail, cost, total=True)
            for sub, (calls, seconds, retail, cost) in totals.items()
        ],
    }


def _campaign_row(
    sub_account_id: str,
    campaign_id: str | None,
    calls: int,
    billable_seconds: int,
    retail_micros: int,
    wholesale_micros: int,
    total: bool = False,
) -> dict[str, Any]:
    row: dict[str, Any] = {"sub_account": sub_account_id}
    if not total:
        row["campaign"] = campaign_id
    row.update(
        {
            "calls": calls,
            "billable_seconds": billable_seconds,
            "billable_minutes": minutes_text(billable_seconds),
            "retail_amount": format_scaled(retail_micros, MICRO_DECIMALS),
            "wholesale_cost": format_scaled(wholesale_micros, MICRO_DECIMALS),
            "profit": format_scaled(retail_micros - wholesale_micros, MICRO_DECIMALS),
        }
    )
    return row


def invoice_document(invoice: StoredInvoice) -> dict[str, Any]:
    def money(minor: int) -> str:
        return format_minor(minor, invoice.currency)

    document: dict[str, Any] = {
        "number": invoice.number,
        "kind": invoice.kind,
        "issuer": invoice.issuer,
        "agency": invoice.agency_id,
        "sub_account": invoice.sub_account_id,
        "period": invoice.period,
        "issued_at": invoice.issued_at.isoformat(),
        "status": invoice.status,
        "currency": invoice.currency,
        "lines": line_documents(invoice),
        "subtotal": money(invoice.subtotal_minor),
        "tax": money(invoice.tax_minor),
        "total": money(invoice.total_minor),
        "usage": invoice.usage,
    }
    if invoice.credit_of:  # a credit note names the invoice it corrects
        document["credit_of"] = invoice.credit_of
    return document


def list_invoices(
    uow_factory: UnitOfWorkFactory,
    agency_id: str | None,
    period: Period | None,
) -> list[dict[str, Any]]:
    """One agency's documents, or (the platform's view, no agency) every agency's."""
    label = str(period) if period else None
    with uow_factory() as uow:
        if agency_id:
            _, tenant = open_agency(uow, agency_id)
            invoices = tenant.invoices.find(period=label)
        else:
            invoices = uow.platform.invoices.find(period=label)
        return [invoice_document(i) for i in invoices]
