"""Use cases of the web faces (agency panel, platform console, client portal): read models as
plain documents, and the changes the panel makes (prices, caps, credit limits, tax switch),
each written through the same services as the CLI and recorded in the audit log."""

from __future__ import annotations

import base64
import calendar
from collections import defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rebill.domain.account import Agency, Brand
from rebill.domain.charges import PlanChange, plan_at
from rebill.domain.errors import FieldError, NotFoundError, ValidationError
from rebill.domain.logo import media_type as logo_media_type
from rebill.domain.money import (
    format_micros_as_minor,
    format_rate,
    minutes_text,
)
from rebill.domain.period import Period
from rebill.domain.plan import NUMBER_TYPES, Plan, WholesaleCard
from rebill.domain.rating import VoiceRate
from rebill.domain.tax import TAX_MODES
from rebill.services.accounts.sub_accounts import set_caps
from rebill.services.accounts.tenant import open_agency
from rebill.services.brand.domains import document as domain_document
from rebill.services.catalog.apply import apply_catalog
from rebill.services.catalog.document import (
    brand_document,
    decimal_text,
    rate_text,
    wholesale_document,
)
from rebill.services.catalog.ownership import CatalogCaller
from rebill.services.catalog.wholesale_schedule import (
    current_period,
    from_problem,
    has_started,
    later_periods,
)
from rebill.services.invoicing.close import period_document
from rebill.services.ports import AgencyView, UnitOfWorkFactory, UsageKey
from rebill.services.views.forms import alert_thresholds, amount_micros, plain_number
from rebill.services.views.queries import sub_account_documents
from rebill.services.views.reports import invoice_document

alerts_shown_max = 10
audit_shown_max = 200


_decimal = decimal_text
_rate_text = rate_text
_brand_document = brand_document
_wholesale_document = wholesale_document


def _apply(
    uow_factory: UnitOfWorkFactory, document: dict[str, Any], caller: CatalogCaller, now: datetime
) -> None:
    """Apply a catalog document as `caller`; apply_catalog records every change it makes in
    the audit log."""
    apply_catalog(uow_factory, document, "", now, caller)


# -- agency home --------------------------------------------------------------------------
def agency_home(uow_factory: UnitOfWorkFactory, agency_id: str, now: datetime) -> dict[str, Any]:
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        currency = agency.currency
        period = Period.containing(now, agency.tz)
        label = str(period)
        history = tenant.plans.history(tenant.plans.all())
        counters = tenant.usage.counters(period=label)
        costs = tenant.usage.wholesale_cost_by_sub_account(label)
        card = tenant.wholesale.card(label)
        held = tenant.numbers.all()
        fees = usage = included_seconds = used_seconds = billable_seconds = 0
        for sub_id in tenant.sub_accounts.ids():
            plan = plan_at(history.get(sub_id, []), now)
            if plan is not None:
                fees += plan.monthly_fee_micros
                included_seconds += plan.included_seconds
            counter = counters.get(UsageKey(sub_id, label))
            if counter is not None:
                usage += counter.credit_micros + counter.postpaid_micros
                used_seconds += counter.included_used_seconds
                billable_seconds += counter.billable_seconds
        number_cost = sum(
            card.number_monthly_micros.get(n.number_type, 0)
            for group in held.values()
            for n in group
            if n.held_at(now)
        )
        cost = sum(costs.values()) + number_cost + card.agency_monthly_fee_micros
        closed = tenant.periods.closed()
        last = None
        if closed:
            document = period_document(tenant, agency, Period.parse(max(closed)))
            last = {"period": max(closed), **document["profit"]}
        alerts = tenant.alerts.all()[-alerts_shown_max:]

    def money(micros: int) -> str:
        return format_micros_as_minor(micros, currency)

    return {
        "agency": agency_id,
        "name": agency.name,
        "currency": currency,
        "period": label,
        "revenue": money(fees + usage),
        "revenue_fees": money(fees),
        "revenue_usage": money(usage),
        "cost": money(cost),
        "profit": money(fees + usage - cost),
        "billable_minutes": minutes_text(billable_seconds),
        "included_minutes": included_seconds // 60,
        "included_used_minutes": minutes_text(used_seconds),
        "included_used_percent": (
            round(100 * used_seconds / included_seconds) if included_seconds else 0
        ),
        "last_closed": last,
        "alerts": [
            {"at": a.fired_at, "sub_account": a.sub_account_id, "message": a.message}
            for a in reversed(alerts)
        ],
    }


# -- plans and rates ----------------------------------------------------------------------
def plan_editor(uow_factory: UnitOfWorkFactory, agency_id: str, now: datetime) -> dict[str, Any]:
    """The agency's plans and the wholesale card they sit on now (rates as decimal text)."""
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        plans = tenant.plans.all()
        card = tenant.wholesale.card(str(Period.containing(now, agency.tz)))
    currency = agency.currency
    return {
        "currency": currency,
        "plans": [_plan_fields(p, currency) for p in sorted(plans.values(), key=lambda p: p.id)],
        "wholesale": {
            "voice": {d: _rate_text(r) for d, r in card.voice.items()},
            "numbers": {t: _decimal(m) for t, m in card.number_monthly_micros.items()},
        },
    }


def _terms_note(
    plan: Plan | None, history: list[PlanChange], tz: ZoneInfo, now: datetime
) -> str | None:
    """Whether the client is on its plan's earlier terms (a change kept them), and until when."""
    if plan is None or plan.version is None:
        return None
    due = next((c for c in history if c.effective_at > now and c.plan.id == plan.id), None)
    if due is not None:
        return f"on its earlier terms until {due.effective_at.astimezone(tz):%Y-%m-%d}"
    return "on its earlier terms, kept for this client"


def _plan_fields(plan: Plan, currency: str) -> dict[str, Any]:
    return {
        "id": plan.id,
        "name": plan.name,
        "monthly_fee": format_micros_as_minor(plan.monthly_fee_micros, currency),
        "included_minutes": plan.included_minutes,
        "overage": plan.overage,
        "voice": {
            d: format_rate(r.per_minute_micros, r.per_minute_decimals, currency)
            for d, r in plan.voice.items()
        },
        "increments": {d: str(r.increment) for d, r in plan.voice.items()},
        "included_numbers": plan.included_numbers,
        "numbers": {
            t: format_micros_as_minor(plan.number_monthly_micros.get(t, 0), currency)
            for t in NUMBER_TYPES
        },
    }


# -- sub-accounts ------------------------------------------------------------------------
def daily_minutes(
    tenant: AgencyView, agency: Agency, sub_account_id: str, period: Period
) -> list[tuple[int, int]]:
    """(day of month, billable seconds) for every day of the period, in the agency's zone."""
    start, end = period.bounds(agency.tz)
    totals: dict[int, int] = defaultdict(int)
    for call in tenant.usage.call_starts(sub_account_id, start, end):
        totals[call.started_at.astimezone(agency.tz).day] += call.billable_seconds
    last_day = calendar.monthrange(period.year, period.month)[1]
    return [(day, totals.get(day, 0)) for day in range(1, last_day + 1)]


def sub_account_view(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    sub_account_id: str,
    period: Period | None,
    now: datetime,
) -> dict[str, Any]:
    """A sub-account's page: its document, plan, usage this period, chart, numbers, invoices."""
    found = sub_account_documents(uow_factory, agency_id, sub_account_id, now)
    if not found:
        raise NotFoundError(f"sub-account {sub_account_id!r} does not exist")
    document = found[0]
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        current = Period.containing(now, agency.tz)
        shown = period or current
        history = tenant.plans.history_of(sub_account_id)
        plan = plan_at(history, now) or (history[0].plan if history else None)
        key = UsageKey(sub_account_id, str(current))
        counter = tenant.usage.counters(keys=[key]).get(key)
        chart = daily_minutes(tenant, agency, sub_account_id, shown)
        numbers = [n for n in tenant.numbers.of(sub_account_id) if n.held_at(now)]
        invoices = [
            invoice_document(i)
            for i in tenant.invoices.find()
            if i.sub_account_id == sub_account_id
        ]
        closed = tenant.periods.closed()
        link = tenant.gateway.link()
        plans = tenant.plans.all()
    used = counter.included_used_seconds if counter else 0
    included = plan.included_minutes if plan else 0
    return {
        **document,
        "plan_name": plan.name if plan else None,
        "plan_terms": _terms_note(plan, history, agency.tz, now),
        "plan_fields": _plan_fields(plan, agency.currency) if plan else None,
        "period": str(current),
        "chart_period": str(shown),
        "periods": sorted({str(current), *closed}, reverse=True),
        "chart": chart,
        "billable_minutes": minutes_text(counter.billable_seconds if counter else 0),
        "included_minutes": included,
        "included_used_minutes": minutes_text(used),
        "included_used_percent": round(100 * used / (included * 60)) if included else 0,
        "numbers": [
            {"e164": n.e164, "type": n.number_type, "rented_at": n.rented_at} for n in numbers
        ],
        "invoices": sorted(invoices, key=lambda i: i["number"], reverse=True),
        "gateway": link.provider if link else None,
        "upgrades": [
            {
                "id": p.id,
                "name": p.name,
                "monthly_fee": format_micros_as_minor(p.monthly_fee_micros, agency.currency),
            }
            for p in sorted(plans.values(), key=lambda p: p.monthly_fee_micros)
            if plan is not None and p.is_upgrade_from(plan)
        ],
    }


def update_caps(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    sub_account_id: str,
    form: dict[str, str],
    actor: str,
    now: datetime,
) -> None:
    """Caps from the panel's form (blank clears a cap; `$300`, `1,500` and alerts as
    percentages `50, 80, 100` are read), recorded in the audit log."""
    with uow_factory() as uow:
        _, tenant = open_agency(uow, agency_id)
        if tenant.sub_accounts.get(sub_account_id) is None:
            raise NotFoundError(f"sub-account {sub_account_id!r} does not exist")
    set_caps(
        uow_factory,
        agency_id,
        sub_account_id,
        plain_number(form.get("monthly_spend", "")) or "none",
        plain_number(form.get("monthly_minutes", "")) or "none",
        alert_thresholds(form.get("alerts", "")),
        form.get("enforcement") or None,
        actor,
        now,
    )


def audit_log(uow_factory: UnitOfWorkFactory, agency_id: str) -> list[dict[str, Any]]:
    """The agency's latest audit entries, newest first."""
    with uow_factory() as uow:
        entries = uow.for_agency(agency_id).audit.latest(audit_shown_max)
    return [
        {
            "at": e.at,
            "actor": e.actor,
            "target": e.target,
            "field": e.field,
            "old": e.old_value,
            "new": e.new_value,
        }
        for e in entries
    ]


# -- platform console ---------------------------------------------------------------------
def console_view(uow_factory: UnitOfWorkFactory, now: datetime) -> dict[str, Any]:
    """The platform's agencies, its wholesale card in force now and the changes scheduled,
    and the agencies' wholesale invoices."""
    with uow_factory() as uow:
        platform = uow.platform.settings.get()
        if platform is None:
            return {"platform": None, "agencies": [], "wholesale": None, "invoices": []}
        card = uow.platform.wholesale.card(current_period(now))
        scheduled = [
            {**_card_text(c.card), "period": c.period, "by": c.scheduled_by}
            for c in uow.platform.wholesale.scheduled()
            if not has_started(c.period, now)
        ]
        agencies = []
        for agency_id in uow.platform.agencies.ids():
            agency, tenant = open_agency(uow, agency_id)
            link = tenant.gateway.link()
            agencies.append(
                {
                    "id": agency.id,
                    "name": agency.name,
                    "tax_mode": agency.tax.mode,
                    "tax_rate": str(agency.tax.rate_percent),
                    "credit_limit": (
                        format_micros_as_minor(agency.credit_limit_micros, agency.currency)
                        if agency.credit_limit_micros is not None
                        else ""
                    ),
                    "exposure": format_micros_as_minor(
                        tenant.usage.exposure_micros(), agency.currency
                    ),
                    "gateway": link.provider if link else None,
                    "sub_accounts": len(tenant.sub_accounts.ids()),
                }
            )
        invoices = [invoice_document(i) for i in uow.platform.invoices.find(kind="wholesale")]
    return {
        "platform": {"name": platform.name, "currency": platform.currency},
        "agencies": agencies,
        "wholesale": _card_text(card),
        "scheduled": scheduled,
        "periods": later_periods(now),
        "invoices": sorted(invoices, key=lambda i: i["number"], reverse=True),
        "tax_modes": list(TAX_MODES),
    }


def _card_text(card: WholesaleCard) -> dict[str, Any]:
    return {
        "voice": {d: _rate_text(r) for d, r in card.voice.items()},
        "numbers": {t: _decimal(m) for t, m in card.number_monthly_micros.items()},
        "agency_monthly_fee": _decimal(card.agency_monthly_fee_micros),
    }


def set_credit_limit(
    uow_factory: UnitOfWorkFactory, agency_id: str, text: str, actor: str, now: datetime
) -> None:
    """The agency's postpaid credit limit with the platform (blank: no limit)."""
    with uow_factory() as uow:
        open_agency(uow, agency_id)
    entry = {"id": agency_id, "credit_limit": text.strip() or None}
    _apply(uow_factory, {"agencies": [entry]}, CatalogCaller(actor), now)


def set_tax_mode(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    mode: str,
    rate: str,
    actor: str,
    now: datetime,
) -> None:
    """Switch how the agency's invoices carry tax: none, manual (a rate) or stripe."""
    with uow_factory() as uow:
        open_agency(uow, agency_id)
    entry = {"id": agency_id, "tax": {"mode": mode, "rate": rate.strip() or "0"}}
    _apply(uow_factory, {"agencies": [entry]}, CatalogCaller(actor), now)


def set_wholesale(
    uow_factory: UnitOfWorkFactory, form: dict[str, str], actor: str, now: datetime
) -> None:
    """The platform's wholesale card: voice per minute, numbers per month, the agency fee; at
    once, or from a later period (`takes_effect`: "now" or a period that has begun nowhere)."""
    with uow_factory() as uow:
        platform = uow.platform.settings.get()
        if platform is None:
            raise NotFoundError("no platform yet")
        card = uow.platform.wholesale.card(current_period(now))
    errors: list[FieldError] = []
    voice = {d: amount_micros(form, f"rate_{d}", errors) for d in card.voice}
    numbers = {t: amount_micros(form, f"number_{t}", errors) for t in card.number_monthly_micros}
    fee = amount_micros(form, "agency_monthly_fee", errors)
    first = wholesale_first_period(form, now, errors)
    if errors:
        raise ValidationError(errors, "the wholesale prices were not saved")
    new_voice = {
        d: VoiceRate(m or 0, card.voice[d].increment, card.voice[d].connect_fee_micros)
        for d, m in voice.items()
    }
    new_numbers = {t: m or 0 for t, m in numbers.items()}
    entry: dict[str, Any] = {
        "name": platform.name,
        "currency": platform.currency,
        "invoice_prefix": platform.invoice_prefix,
        "wholesale": _wholesale_document(new_voice, new_numbers, fee),
    }
    if first is not None:
        entry["wholesale_from"] = first
    _apply(uow_factory, {"platform": entry}, CatalogCaller(actor), now)


def wholesale_first_period(
    form: dict[str, str], now: datetime, errors: list[FieldError]
) -> str | None:
    """The form's `takes_effect`: None for "now" (or none given), else the first period."""
    chosen = form.get("takes_effect", "now").strip() or "now"
    if chosen == "now":
        return None
    problem = from_problem(chosen, now)
    if problem:
        errors.append(FieldError("takes_effect", problem))
    return chosen


# -- client portal ------------------------------------------------------------------------
def brand_of(uow_factory: UnitOfWorkFactory, agency_id: str) -> Brand:
    with uow_factory() as uow:
        _, tenant = open_agency(uow, agency_id)
        return tenant.brand.get()


def agency_for_host(
    uow_factory: UnitOfWorkFactory, host: str, own_hosts: frozenset[str] = frozenset()
) -> str | None:
    """The agency whose active custom domain `host` is; never for the platform's own hosts."""
    name = host.split(":", 1)[0].strip().lower().rstrip(".")
    if not name or name in own_hosts:
        return None
    with uow_factory() as uow:
        return uow.platform.domains.owner(name)


# -- brand ---------------------------------------------------------------------------------
brand_form_fields = ("display_name", "colour", "support_email", "country", "tax_id")


def brand_editor(uow_factory: UnitOfWorkFactory, agency_id: str) -> dict[str, Any]:
    """The agency's display brand as the panel edits it, and its custom domains."""
    with uow_factory() as uow:
        _, tenant = open_agency(uow, agency_id)
        brand = tenant.brand.get()
        found = tenant.domains.all()
    return {
        "values": {
            "display_name": brand.display_name,
            "colour": brand.colour,
            "support_email": brand.support_email,
            "country": brand.country,
            "tax_id": brand.tax_id or "",
            "address": "\n".join(brand.address_lines),
        },
        "has_logo": brand.logo_png is not None,
        "domain": brand.domain,
        "domains": [domain_document(d) for d in found],
    }


def save_brand(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    form: dict[str, str],
    logo: bytes | None,
    actor: str,
    now: datetime,
) -> None:
    """The display brand from the panel's form; a logo arrives as uploaded bytes (checked
    like any logo). Applied through the catalog's ownership rule and audited."""
    brand: dict[str, Any] = {k: form.get(k, "").strip() for k in brand_form_fields}
    brand["tax_id"] = brand["tax_id"] or None
    brand["address"] = [
        line.strip() for line in form.get("address", "").splitlines() if line.strip()
    ]
    if logo:
        brand["logo"] = f"data:{logo_media_type(logo)};base64,{base64.b64encode(logo).decode()}"
    document = {"agencies": [{"id": agency_id, "brand": brand}]}
    caller = CatalogCaller(actor, agency_id, may_move_money=False)
    apply_catalog(uow_factory, document, "brand form", now, caller)
