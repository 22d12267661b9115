"""The panel's clients: the money each one makes the agency (revenue, wholesale cost,
margin, usage, spend against its cap, this month so far and the last closed month), sortable;
and a new client added from a form through `apply_catalog` as the agency (ownership rule,
audit, the subscription's receipt), with the form's fields named in every refusal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from rebill.domain.account import SubAccount
from rebill.domain.charges import plan_at
from rebill.domain.errors import FieldError, ValidationError
from rebill.domain.money import (
    format_micros_as_minor,
    micros_per_minor,
    minutes_text,
    round_div,
    to_micros,
)
from rebill.domain.period import Period
from rebill.domain.plan import Plan
from rebill.domain.usage import PeriodUsage
from rebill.services.accounts.tenant import open_agency
from rebill.services.catalog.ownership import CatalogCaller
from rebill.services.ports import UnitOfWorkFactory, UsageKey
from rebill.services.views.forms import alert_thresholds, apply_form, plain_number
from rebill.services.views.plan_form import slug_of

SORTS = ("name", "plan", "minutes", "revenue", "cost", "margin", "spend", "last_margin")
CLIENT_FIELDS = {
    "id": "id",
    "name": "name",
    "email": "email",
    "country": "country",
    "plan": "plan",
    "caps.monthly_spend": "monthly_spend",
    "caps.alerts": "alerts",
    "caps.alerts[0]": "alerts",
}
CLIENT_RANGES = {
    "id": "lowercase letters, digits and dashes (from the name when left blank)",
    "email": "where the client's invoices and alerts go",
    "country": "two letters (ISO 3166), e.g. US; sets how tax applies",
    "monthly_spend": (
        "optional; counts what the client spends beyond its plan's included minutes this "
        "month (e.g. 300 or $300)"
    ),
    "alerts": "optional; percentages of the cap, e.g. 50, 80, 100",
}


def client_economics(
    uow_factory: UnitOfWorkFactory, agency_id: str, now: datetime, sort: str, descending: bool
) -> dict[str, Any]:
    """Each client's month so far and last closed month, sorted by `sort` (one of SORTS)."""
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        label = str(Period.containing(now, agency.tz))
        subs = tenant.sub_accounts.all()
        history = tenant.plans.history(tenant.plans.all())
        counters = tenant.usage.counters(period=label)
        costs = tenant.usage.wholesale_cost_by_sub_account(label)
        card = tenant.wholesale.card(label)
        held = tenant.numbers.all()
        closed = tenant.periods.closed()
        last = max(closed) if closed else None
        last_lines = {u.sub_account_id: u for u in tenant.periods.usage(last)} if last else {}
    currency = agency.currency
    per_minor = micros_per_minor(currency)

    def money(micros: int) -> str:
        return format_micros_as_minor(micros, currency)

    rows: list[dict[str, Any]] = []
    for sub_id, sub in subs.items():
        plan = plan_at(history.get(sub_id, []), now)
        usage = counters.get(UsageKey(sub_id, label), PeriodUsage())
        numbers = sum(
            card.number_monthly_micros.get(n.number_type, 0)
            for n in held.get(sub_id, [])
            if n.held_at(now)
        )
        cost = costs.get(sub_id, 0) + numbers
        line = last_lines.get(sub_id)
        last_margin = (line.revenue_minor - line.cost_minor) * per_minor if line else None
        rows.append(_client_row(sub, plan, usage, cost, last_margin, money))
    key = sort if sort in SORTS else "name"
    rows.sort(key=lambda r: r["keys"][key], reverse=descending)
    return {
        "currency": currency,
        "period": label,
        "last_period": last,
        "rows": rows,
        "sort": key,
        "descending": descending,
        "totals": _totals(rows, money),
    }


def _client_row(
    sub: SubAccount,
    plan: Plan | None,
    usage: PeriodUsage,
    cost: int,
    last_margin: int | None,
    money: Callable[[int], str],
) -> dict[str, Any]:
    """One client's line of the table (amounts as text) and its sort keys (exact integers)."""
    revenue = (plan.monthly_fee_micros if plan else 0) + usage.overage_micros
    cap = sub.caps.monthly_spend_micros
    return {
        "id": sub.id,
        "name": sub.name,
        "state": sub.state,
        "plan": plan.name if plan else "—",
        "minutes": minutes_text(usage.billable_seconds),
        "revenue": money(revenue),
        "cost": money(cost),
        "margin": money(revenue - cost),
        "margin_percent": round_div(100 * (revenue - cost), revenue) if revenue else None,
        "spend": money(usage.overage_micros),
        "cap": money(cap) if cap is not None else None,
        "cap_percent": round_div(100 * usage.overage_micros, cap) if cap else None,
        "last_margin": money(last_margin) if last_margin is not None else None,
        "keys": {
            "name": sub.name.lower(),
            "plan": plan.name.lower() if plan else "",
            "minutes": usage.billable_seconds,
            "revenue": revenue,
            "cost": cost,
            "margin": revenue - cost,
            "spend": usage.overage_micros,
            "last_margin": last_margin if last_margin is not None else -(10**18),
        },
    }


def _totals(rows: list[dict[str, Any]], money: Callable[[int], str]) -> dict[str, str]:
    revenue = sum(r["keys"]["revenue"] for r in rows)
    cost = sum(r["keys"]["cost"] for r in rows)
    return {"revenue": money(revenue), "cost": money(cost), "margin": money(revenue - cost)}


def new_client_form(uow_factory: UnitOfWorkFactory, agency_id: str) -> dict[str, Any]:
    """The choices of the new-client form: the agency's plans (cheapest first)."""
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        plans = sorted(tenant.plans.all().values(), key=lambda p: p.monthly_fee_micros)
    return {
        "currency": agency.currency,
        "plans": [
            {
                "id": p.id,
                "label": f"{p.name} ("
                f"{format_micros_as_minor(p.monthly_fee_micros, agency.currency)}"
                f" {agency.currency}/month, {p.included_minutes} min included)",
            }
            for p in plans
        ],
        "ranges": CLIENT_RANGES,
    }


def add_client(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    form: dict[str, str],
    actor: str,
    now: datetime,
) -> str:
    """A new sub-account from the panel's form; returns its id. Refused whole, with the
    form's field names, when anything is wrong (an id in use included)."""
    errors: list[FieldError] = []
    name = form.get("name", "").strip()
    sub_id = form.get("id", "").strip() or slug_of(name)
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        taken = tenant.sub_accounts.get(sub_id) is not None if sub_id else False
    if taken:
        errors.append(FieldError("id", f"a client {sub_id!r} exists already: choose another", "id"))
    entry: dict[str, Any] = {
        "id": sub_id,
        "name": name,
        "email": form.get("email", "").strip(),
        "country": form.get("country", "US").strip().upper(),
        "plan": form.get("plan", ""),
    }
    spend = plain_number(form.get("monthly_spend", ""), agency.currency)
    alerts = alert_thresholds(form.get("alerts", ""))
    if spend or alerts:
        try:
            if spend and to_micros(spend) < 0:
                raise ValueError(f"{spend} is negative: a cap is 0 or more")
        except (TypeError, ValueError) as exc:
            errors.append(FieldError("monthly_spend", str(exc), "monthly_spend"))
        entry["caps"] = {
            "monthly_spend": spend or None,
            "alerts": [a.strip() for a in alerts.split(",") if a.strip()],
        }
    if errors:
        raise ValidationError(errors, "the client was not added")
    document = {"agencies": [{"id": agency_id, "sub_accounts": [entry]}]}
    caller = CatalogCaller(actor, agency_id, may_move_money=False)
    summary = "the client was not added"
    apply_form(uow_factory, document, "client form", now, caller, CLIENT_FIELDS, summary)
    return sub_id
