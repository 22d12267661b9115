"""What the portal's home tells a client beyond its usage: the invoices it has open, its
spend against its cap this month, and an estimate of its next bill (what the month's close
will invoice: usage beyond the included minutes so far, next month's plan fee and numbers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rebill.domain.charges import renewal_plan, renewed_numbers
from rebill.domain.money import format_micros_as_minor, round_div
from rebill.domain.period import Period
from rebill.domain.usage import PeriodUsage
from rebill.services.accounts.tenant import open_agency, require_sub_account
from rebill.services.ports import UnitOfWorkFactory, UsageKey
from rebill.services.views.reports import invoice_document


def client_summary(
    uow_factory: UnitOfWorkFactory, agency_id: str, sub_account_id: str, now: datetime
) -> dict[str, Any]:
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        sub = require_sub_account(tenant, sub_account_id)
        period = Period.containing(now, agency.tz)
        key = UsageKey(sub_account_id, str(period))
        usage = tenant.usage.counters(keys=[key]).get(key, PeriodUsage())
        history = tenant.plans.history_of(sub_account_id)
        numbers = tenant.numbers.of(sub_account_id)
        open_invoices = [
            invoice_document(i)
            for i in tenant.invoices.find()
            if i.sub_account_id == sub_account_id and i.status == "open"
        ]
    currency = agency.currency

    def money(micros: int) -> str:
        return format_micros_as_minor(micros, currency)

    next_start = period.next().start(agency.tz)
    plan = renewal_plan(history, next_start)
    fee = plan.monthly_fee_micros if plan else 0
    number_fees = (
        sum(
            plan.number_monthly_micros.get(n.number_type, 0)
            for n in renewed_numbers(numbers, next_start, plan.included_numbers)
        )
        if plan
        else 0
    )
    cap = sub.caps.monthly_spend_micros
    return {
        "currency": currency,
        "period": str(period),
        "next_period": str(period.next()),
        "open_invoices": [
            {"number": d["number"], "total": d["total"], "issued_at": d["issued_at"][:10]}
            for d in open_invoices
        ],
        "spend": money(usage.overage_micros),
        "cap": money(cap) if cap is not None else None,
        "cap_percent": round_div(100 * usage.overage_micros, cap) if cap else None,
        "estimate": {
            "usage": money(usage.postpaid_micros),
            "fee": money(fee),
            "numbers": money(number_fees),
            "plan": plan.name if plan else None,
            "total": money(usage.postpaid_micros + fee + number_fees),
        },
    }
