"""The panel's alerts page: who is over or near a cap, worked out from the counters (this
month so far and the last closed month, so a 100 % crossing shows even when no alert fired),
and every alert that fired, newest first, a page at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rebill.domain.account import SubAccount
from rebill.domain.money import format_micros_as_minor, minutes_text
from rebill.domain.period import Period
from rebill.domain.usage import PeriodUsage
from rebill.services.accounts.tenant import open_agency
from rebill.services.ports import UnitOfWorkFactory, UsageKey

alerts_per_page = 50
near_cap_percent = 80


def cap_watch(
    uow_factory: UnitOfWorkFactory, agency_id: str, now: datetime, page: int
) -> dict[str, Any]:
    """Clients at or above `near_cap_percent` of a cap (this month and the last closed one),
    most over first; and page `page` (from 1) of the fired alerts, newest first."""
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        current = str(Period.containing(now, agency.tz))
        closed = tenant.periods.closed()
        periods = [current, *([max(closed)] if closed else [])]
        subs = tenant.sub_accounts.all()
        counters = {p: tenant.usage.counters(period=p) for p in periods}
        fired = tenant.alerts.all()
    currency = agency.currency
    rows = [
        row
        for period in periods
        for sub_id, sub in subs.items()
        for row in _near_caps(
            period, sub, counters[period].get(UsageKey(sub_id, period), PeriodUsage()), currency
        )
    ]
    rows.sort(key=lambda r: (r["period"] != current, -r["percent"], r["name"]))
    pages = max(1, -(-len(fired) // alerts_per_page))
    shown = min(max(page, 1), pages)
    newest = list(reversed(fired))
    start = (shown - 1) * alerts_per_page
    return {
        "currency": currency,
        "period": current,
        "caps": rows,
        "near_percent": near_cap_percent,
        "over": sum(1 for r in rows if r["over"] and r["period"] == current),
        "alerts": [
            {
                "at": a.fired_at,
                "sub_account": a.sub_account_id,
                "name": subs[a.sub_account_id].name if a.sub_account_id in subs else "",
                "metric": a.metric,
                "threshold": a.threshold,
                "period": a.period,
                "message": a.message,
            }
            for a in newest[start : start + alerts_per_page]
        ],
        "total": len(fired),
        "page": shown,
        "pages": pages,
    }


def _near_caps(
    period: str, sub: SubAccount, usage: PeriodUsage, currency: str
) -> list[dict[str, Any]]:
    """The sub-account's caps at or above `near_cap_percent` in `period`."""
    caps = sub.caps
    measures = []
    if caps.monthly_spend_micros is not None:
        spend = usage.overage_micros
        cap = caps.monthly_spend_micros
        shown = (format_micros_as_minor(spend, currency), format_micros_as_minor(cap, currency))
        measures.append(("spend", spend, cap, *shown))
    if caps.monthly_minutes is not None:
        seconds = usage.billable_seconds
        shown = (minutes_text(seconds), str(caps.monthly_minutes))
        measures.append(("minutes", seconds, caps.monthly_minutes * 60, *shown))
    rows = []
    for metric, used, cap, used_text, cap_text in measures:
        percent = 100 * used // cap if cap else (100 if used else 0)
        if percent >= near_cap_percent:
            rows.append(
                {
                    "period": period,
                    "sub_account": sub.id,
                    "name": sub.name,
                    "metric": metric,
                    "used": used_text,
                    "cap": cap_text,
                    "percent": percent,
                    "over": percent >= 100,
                    "enforcement": caps.enforcement,
                }
            )
    return rows


def over_cap_count(uow_factory: UnitOfWorkFactory, agency_id: str, now: datetime) -> int:
    """How many clients are at or over a cap this month (the navigation's count)."""
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        period = str(Period.containing(now, agency.tz))
        subs = tenant.sub_accounts.all()
        counters = tenant.usage.counters(period=period)
    return sum(
        1
        for sub_id, sub in subs.items()
        if any(
            row["over"]
            for row in _near_caps(
                period, sub, counters.get(UsageKey(sub_id, period), PeriodUsage()), agency.currency
            )
        )
    )
