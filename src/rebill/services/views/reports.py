"""Read-only views: the usage summary of a period (measured live while it is open, as stored
once closed) and invoice listings, through the unit of work (the API and the panel). The
command line reads the same documents through `listing`, which builds their rows for both."""

from __future__ import annotations

from typing import Any

from rebill.domain.money import MICRO_DECIMALS, format_scaled, minutes_text
from rebill.domain.period import Period
from rebill.domain.usage import PeriodUsage
from rebill.services.accounts.tenant import open_agency
from rebill.services.ports import UnitOfWorkFactory, UsageKey
from rebill.services.views.listing import invoice_document, live_usage_row

__all__ = [
    "NO_CAMPAIGN_LABEL",
    "invoice_document",
    "list_invoices",
    "usage_by_campaign",
    "usage_summary",
]


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
                rows.append(
                    live_usage_row(
                        sub_id, usage, numbers.get(sub_id, []), campaigns.get(sub_id, 0), end
                    )
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
