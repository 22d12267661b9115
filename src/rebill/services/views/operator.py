"""The console's guardrails and agency pages: what a credit limit below an agency's exposure
would stop, what a wholesale price change does to each agency's margins (the plans it would
put below wholesale), one agency's page, and a new agency added through `apply_catalog` as
the platform (so it is audited like a catalog file)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from rebill.domain.charges import plan_at
from rebill.domain.errors import FieldError, NotFoundError, ValidationError
from rebill.domain.money import format_micros_as_minor, to_micros
from rebill.domain.period import Period
from rebill.domain.rating import DIRECTIONS
from rebill.domain.tax import TAX_MODES, TaxPolicy
from rebill.services.accounts.tenant import open_agency
from rebill.services.catalog.apply import apply_catalog
from rebill.services.catalog.document import decimal_text, rate_text
from rebill.services.catalog.ownership import CatalogCaller
from rebill.services.catalog.wholesale_schedule import current_period
from rebill.services.ports import UnitOfWorkFactory
from rebill.services.views.forms import amount_micros, plain_number
from rebill.services.views.panel import wholesale_first_period
from rebill.services.views.reports import invoice_document

AGENCY_FIELDS = {
    "id": "id",
    "name": "name",
    "timezone": "timezone",
    "invoice_prefix": "invoice_prefix",
    "credit_limit": "credit_limit",
}


def limit_effect(
    uow_factory: UnitOfWorkFactory, agency_id: str, text: str
) -> dict[str, Any] | None:
    """When the limit typed is below what the agency owes the platform now: the amounts and
    how many clients' calls would be refused (None otherwise, or when the text is no amount:
    the catalog refuses it with its own message)."""
    given = plain_number(text)
    try:
        limit = to_micros(given) if given else None
    except (TypeError, ValueError):
        return None
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        exposure = tenant.usage.exposure_micros()
        clients = len(tenant.sub_accounts.ids())
    if limit is None or limit > exposure:
        return None
    return {
        "agency": agency_id,
        "name": agency.name,
        "limit": format_micros_as_minor(limit, agency.currency),
        "limit_text": given,
        "exposure": format_micros_as_minor(exposure, agency.currency),
        "currency": agency.currency,
        "clients": clients,
    }


def tax_effect(
    uow_factory: UnitOfWorkFactory, agency_id: str, mode: str, rate: str, now: datetime
) -> dict[str, Any] | None:
    """When the tax mode (or the manual rate) asked for differs from the agency's: what the
    switch does to the invoices of its clients from the open period on (None otherwise, or
    when the mode or rate is not one: the catalog refuses those with its own message)."""
    given = plain_number(rate) or "0"
    try:
        percent = Decimal(given)
    except InvalidOperation:
        return None
    if mode not in TAX_MODES or not percent.is_finite():
        return None
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        clients = len(tenant.sub_accounts.ids())
    old = agency.tax
    if old.mode == mode and (mode != "manual" or old.rate_percent == percent):
        return None
    period = str(Period.containing(now, agency.tz))
    return {
        "agency": agency_id,
        "name": agency.name,
        "old": _tax_text(old.mode, old.rate_percent, old.label),
        "new": _tax_text(mode, percent, old.label),
        "mode": mode,
        "rate_text": given,
        "clients": clients,
        "period": period,
        "effect": _tax_words(mode, percent, old),
    }


def _percent(percent: Decimal) -> str:
    return format(percent.normalize(), "f")


def _tax_text(mode: str, percent: Decimal, label: str) -> str:
    if mode == "manual":
        return f"{_percent(percent)} % {label}"
    return {"none": "no tax", "stripe": "Stripe Tax"}[mode]


def _tax_words(mode: str, percent: Decimal, old: TaxPolicy) -> str:
    if mode == "none":
        return "Its invoices carry no tax: the totals are the prices."
    if mode == "manual":
        placed = "added to" if old.behavior == "exclusive" else "included in"
        return (
            f"Each invoice carries {_percent(percent)} % {old.label}, {placed} the prices, "
            "decided per client (a business client in another EU member state is reverse "
            "charged: docs/tax.md)."
        )
    return (
        "Each retail invoice is taxed by one Stripe Tax calculation for the client's country. "
        "While the agency's Stripe Tax settings are not active, its close is refused "
        "(tax_not_configured) and nothing is written; its panel lists what is missing."
    )


def wholesale_effect(
    uow_factory: UnitOfWorkFactory, form: dict[str, str], now: datetime
) -> dict[str, Any]:
    """Old (in force now) and new wholesale voice rates, when they take effect, and per agency
    (on the platform's card) the change of margin per minute of each plan, the plans the new
    rates put below wholesale and how many clients they bill. Refused (ValidationError) when
    a rate typed is not one, or the first period is not a later one."""
    errors: list[FieldError] = []
    with uow_factory() as uow:
        card = uow.platform.wholesale.card(current_period(now))
        new = {d: amount_micros(form, f"rate_{d}", errors) for d in card.voice}
        first = wholesale_first_period(form, now, errors)
        if errors:
            raise ValidationError(errors, "the wholesale prices were not saved")
        agencies = []
        now_plans: dict[str, Any] = {}
        for agency_id in uow.platform.agencies.ids():
            agency, tenant = open_agency(uow, agency_id)
            overridden = set(tenant.wholesale.override().prices.voice)
            plans = tenant.plans.all()
            history = tenant.plans.history(plans)
            now_plans[agency_id] = (agency, overridden, plans, history)
    rates = []
    for d, rate in card.voice.items():
        rates.append({"direction": d, "old": rate_text(rate), "new": decimal_text(new[d] or 0)})
    for agency_id, (agency, overridden, plans, history) in now_plans.items():
        rows = []
        for plan in sorted(plans.values(), key=lambda p: p.id):
            for d in DIRECTIONS:
                if d in overridden or d not in card.voice or d not in plan.voice:
                    continue
                retail = plan.voice[d].per_minute_micros
                old_margin = retail - card.voice[d].per_minute_micros
                new_margin = retail - (new[d] or 0)
                if old_margin == new_margin:
                    continue
                clients = sum(
                    1 for changes in history.values() if changes and changes[-1].plan.id == plan.id
                )
                rows.append(
                    {
                        "plan": plan.name,
                        "direction": d,
                        "old": decimal_text(old_margin),
                        "new": decimal_text(new_margin),
                        "loss": new_margin < 0,
                        "clients": clients,
                    }
                )
        agencies.append({"id": agency_id, "name": agency.name, "rows": rows})
    changed = any(new[d] != rate.per_minute_micros for d, rate in card.voice.items())
    # A scheduled change is always confirmed: what it names is the period, not only prices.
    return {
        "rates": rates,
        "agencies": agencies,
        "changed": changed or first is not None,
        "from": first,
    }


def agency_page(uow_factory: UnitOfWorkFactory, agency_id: str, now: datetime) -> dict[str, Any]:
    """One agency as the platform sees it: its terms, exposure, clients and plans, and its
    wholesale invoices."""
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        exposure = tenant.usage.exposure_micros()
        subs = tenant.sub_accounts.all()
        plans = tenant.plans.all()
        history = tenant.plans.history(plans)
        link = tenant.gateway.link()
        invoices = [invoice_document(i) for i in tenant.invoices.find(kind="wholesale")]
    currency = agency.currency
    limit = agency.credit_limit_micros
    return {
        "id": agency.id,
        "name": agency.name,
        "currency": currency,
        "timezone": agency.timezone,
        "invoice_prefix": agency.invoice_prefix,
        "tax_mode": agency.tax.mode,
        "gateway": link.provider if link else None,
        "period": str(Period.containing(now, agency.tz)),
        "exposure": format_micros_as_minor(exposure, currency),
        "credit_limit": format_micros_as_minor(limit, currency) if limit is not None else None,
        "blocked": limit is not None and exposure >= limit,
        "clients": [
            {
                "id": s.id,
                "name": s.name,
                "state": s.state,
                "plan": (p.name if (p := plan_at(history.get(s.id, []), now)) else "—"),
            }
            for s in sorted(subs.values(), key=lambda s: s.name.lower())
        ],
        "plans": [
            {"name": p.name, "fee": format_micros_as_minor(p.monthly_fee_micros, currency)}
            for p in sorted(plans.values(), key=lambda p: p.monthly_fee_micros)
        ],
        "invoices": sorted(invoices, key=lambda i: i["issued_at"], reverse=True),
    }


def add_agency(
    uow_factory: UnitOfWorkFactory, form: dict[str, str], actor: str, now: datetime
) -> str:
    """A new agency from the console's form, applied as the platform; returns its id."""
    agency_id = form.get("id", "").strip()
    with uow_factory() as uow:
        if agency_id and uow.for_agency(agency_id).agency.get() is not None:
            raise ValidationError(
                [FieldError("id", f"an agency {agency_id!r} exists already", "id")],
                "the agency was not added",
            )
    entry: dict[str, Any] = {
        "id": agency_id,
        "name": form.get("name", "").strip(),
        "timezone": form.get("timezone", "").strip() or "UTC",
        "invoice_prefix": form.get("invoice_prefix", "").strip().upper(),
    }
    limit = plain_number(form.get("credit_limit", ""))
    if limit:
        entry["credit_limit"] = limit
    try:
        apply_catalog(uow_factory, {"agencies": [entry]}, "agency form", now, CatalogCaller(actor))
    except ValidationError as exc:
        fields: dict[str, str] = {}
        for error in exc.field_errors:
            fields.setdefault(_agency_field(error.field or ""), error.message)
        raise ValidationError(
            [FieldError(k, m, k) for k, m in fields.items()], "the agency was not added"
        ) from None
    except NotFoundError as exc:  # pragma: no cover - an agency id is always given here
        raise ValidationError([FieldError("id", exc.message, "id")]) from None
    return agency_id


def _agency_field(path: str) -> str:
    inner = path.split("].", 1)[1] if path.startswith("agencies[") and "]." in path else path
    return AGENCY_FIELDS.get(inner, "form")
