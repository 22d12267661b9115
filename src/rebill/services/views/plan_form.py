"""The panel's plan form: create, clone and edit a plan with every field of the catalog
(increments and connect fees included), through `apply_catalog` as the agency (so the
ownership rule and the audit log apply as they do to a catalog file); what a change touches
(the clients on the plan, from when); and the plan's economics against the wholesale card."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from rebill.domain.charges import PlanChange, plan_at
from rebill.domain.errors import FieldError, NotFoundError, ValidationError
from rebill.domain.money import format_micros_as_minor, format_rate
from rebill.domain.period import Period
from rebill.domain.plan import NUMBER_TYPES, Plan, WholesaleCard
from rebill.domain.rating import DIRECTIONS
from rebill.domain.text import is_digits
from rebill.services.accounts.tenant import open_agency
from rebill.services.catalog.document import decimal_text, rate_text
from rebill.services.catalog.ownership import CatalogCaller
from rebill.services.ports import UnitOfWorkFactory
from rebill.services.views.forms import amount_micros, apply_form, plain_number

# The catalog's path inside a plan entry -> the form field that edits it.
PLAN_FIELDS = {
    "id": "id",
    "name": "name",
    "monthly_fee": "monthly_fee",
    "included_minutes": "included_minutes",
    "overage": "overage",
    "numbers.included": "included_numbers",
    "takes_effect": "takes_effect",
    **{f"voice.{d}.overage_per_minute": f"rate_{d}" for d in DIRECTIONS},
    **{f"voice.{d}.increment": f"increment_{d}" for d in DIRECTIONS},
    **{f"voice.{d}.connect_fee": f"connect_{d}" for d in DIRECTIONS},
    **{f"numbers.{t}.monthly": f"number_{t}" for t in NUMBER_TYPES},
}
# What each field accepts, shown beside it.
PLAN_RANGES = {
    "id": "lowercase letters, digits and dashes (from the name when left blank); fixed once made",
    "monthly_fee": "0 or more; up to 6 decimals",
    "included_minutes": "a whole number from 0 to 1,000,000,000",
    "included_numbers": "a whole number, 0 or more",
    "increment": 'first/next billed seconds, e.g. "60/6" or "1/1"',
    "price": "0 or more; below wholesale only when confirmed",
}
DEFAULTS = {
    "overage": "postpaid",
    "included_minutes": "0",
    "included_numbers": "0",
    **{f"increment_{d}": "60/6" for d in DIRECTIONS},
    **{f"connect_{d}": "0.00" for d in DIRECTIONS},
}
# When a change to a plan in use reaches its clients (the form's `takes_effect` choice).
TAKES_EFFECT = {
    "next_period": "From the next period",
    "new_clients": "New clients only",
}
_SLUG_CUT = re.compile(r"[^a-z0-9]+")


def slug_of(name: str) -> str:
    return _SLUG_CUT.sub("-", name.lower()).strip("-")[:64]


def form_values(plan: Plan, currency: str) -> dict[str, str]:
    """The plan as the form shows it (every field)."""
    return {
        "id": plan.id,
        "name": plan.name,
        "monthly_fee": format_micros_as_minor(plan.monthly_fee_micros, currency),
        "included_minutes": str(plan.included_minutes),
        "overage": plan.overage,
        "included_numbers": str(plan.included_numbers),
        **{
            f"rate_{d}": format_rate(r.per_minute_micros, r.per_minute_decimals, currency)
            for d, r in plan.voice.items()
        },
        **{f"increment_{d}": str(r.increment) for d, r in plan.voice.items()},
        **{
            f"connect_{d}": format_micros_as_minor(r.connect_fee_micros, currency)
            for d, r in plan.voice.items()
        },
        **{
            f"number_{t}": format_micros_as_minor(plan.number_monthly_micros.get(t, 0), currency)
            for t in NUMBER_TYPES
        },
    }


def plan_form(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    plan_id: str | None,
    clone_of: str | None,
    now: datetime,
) -> dict[str, Any]:
    """What the form needs: the stored values (of `plan_id`, or of `clone_of` for a new
    plan), who the plan is used by, and the wholesale card for the margins."""
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        plans = tenant.plans.all()
        card = tenant.wholesale.card(str(Period.containing(now, agency.tz)))
        history = tenant.plans.history(plans)
        names = {s.id: s.name for s in tenant.sub_accounts.all().values()}
    source = plan_id or clone_of
    if source is not None and source not in plans:
        raise NotFoundError(f"plan {source!r} does not exist")
    values = dict(DEFAULTS)
    if source is not None:
        values |= form_values(plans[source], agency.currency)
    if plan_id is None:
        values["id"] = ""
        if clone_of is not None:
            values["name"] = f"{values['name']} (copy)"
    affected, earlier = clients_of(history, plan_id, now) if plan_id else ([], [])
    period = Period.containing(now, agency.tz)
    return {
        "currency": agency.currency,
        "values": values,
        "clients": sorted(names.get(sub_id, sub_id) for sub_id in affected),
        "earlier_clients": sorted(names.get(sub_id, sub_id) for sub_id in earlier),
        "takes_effect": TAKES_EFFECT,
        "period": str(period),
        "next_period": str(period.next()),
        "wholesale": {
            "voice": {d: rate_text(r) for d, r in card.voice.items()},
            "numbers": {t: decimal_text(m) for t, m in card.number_monthly_micros.items()},
        },
        "economics": economics(values, card, agency.currency),
        "ranges": PLAN_RANGES,
    }


def clients_of(
    history: dict[str, list[PlanChange]], plan_id: str, now: datetime
) -> tuple[list[str], list[str]]:
    """(the clients a change to `plan_id` affects: on its current terms now, or due to take
    them; the clients on its earlier terms, whom it does not affect)."""
    affected, earlier = [], []
    for sub_id, changes in history.items():
        current = plan_at(changes, now)
        due = [c.plan for c in changes if c.effective_at > now]
        if any(p.id == plan_id and p.version is None for p in [*due, current] if p):
            affected.append(sub_id)
        elif current is not None and current.id == plan_id:
            earlier.append(sub_id)
    return sorted(affected), sorted(earlier)


def economics(values: dict[str, str], card: WholesaleCard, currency: str) -> dict[str, Any] | None:
    """The fee against the wholesale cost of the included minutes (priced at the outbound
    wholesale rate) at 0 %, 50 % and 100 % use, and the break-even minutes."""
    errors: list[FieldError] = []
    fee = amount_micros(values, "monthly_fee", errors, currency)
    minutes_given = plain_number(values.get("included_minutes", ""))
    rate = card.voice.get("outbound")
    if fee is None or not is_digits(minutes_given, 9) or rate is None:
        return None
    included = int(minutes_given)
    per_minute = rate.per_minute_micros

    def money(micros: int) -> str:
        return format_micros_as_minor(micros, currency)

    uses = []
    for percent in (0, 50, 100):
        cost = included * per_minute * percent // 100
        uses.append({"percent": percent, "cost": money(cost), "margin": money(fee - cost)})
    return {
        "fee": money(fee),
        "included_minutes": included,
        "wholesale_rate": rate_text(rate),
        "included_cost": money(included * per_minute),
        "uses": uses,
        "break_even_minutes": fee // per_minute if per_minute else None,
    }


def save_plan(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    plan_id: str | None,
    form: dict[str, str],
    below_wholesale_confirmed: bool,
    actor: str,
    now: datetime,
) -> str:
    """Create (`plan_id` None) or edit a plan from the form; returns its id. A retail price
    below its wholesale price is refused unless confirmed. Refusals come back as a
    ValidationError whose field errors name the form's fields."""
    errors: list[FieldError] = []
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        plans = tenant.plans.all()
        card = tenant.wholesale.card(str(Period.containing(now, agency.tz)))
    currency = agency.currency
    if plan_id is not None and plan_id not in plans:
        raise NotFoundError(f"plan {plan_id!r} does not exist")
    stored = form_values(plans[plan_id], currency) if plan_id is not None else {}
    form = {**DEFAULTS, **stored, **form}  # a field the form left out keeps its value
    new_id = plan_id or (form.get("id", "").strip() or slug_of(form.get("name", "")))
    if plan_id is None and new_id in plans:
        errors.append(FieldError("id", f"a plan {new_id!r} exists already: choose another", "id"))
    fee = amount_micros(form, "monthly_fee", errors, currency)
    voice = {d: amount_micros(form, f"rate_{d}", errors, currency) for d in DIRECTIONS}
    connect = {d: amount_micros(form, f"connect_{d}", errors, currency) for d in DIRECTIONS}
    numbers = {t: amount_micros(form, f"number_{t}", errors, currency) for t in NUMBER_TYPES}
    if not below_wholesale_confirmed:
        errors += _below_wholesale(card, voice, numbers)
    takes_effect = form.get("takes_effect") or "next_period"
    if takes_effect not in TAKES_EFFECT:
        errors.append(
            FieldError(
                "takes_effect",
                "choose when the change reaches the clients: from the next period, or for "
                "new clients only",
                "takes_effect",
            )
        )
    if errors:
        raise ValidationError(errors, "the plan was not saved")
    spec: dict[str, Any] = {
        "id": new_id,
        "name": form.get("name", "").strip(),
        "monthly_fee": decimal_text(fee or 0),
        "included_minutes": plain_number(form.get("included_minutes", "")),
        "overage": form.get("overage", "postpaid"),
        "voice": {
            d: {
                "overage_per_minute": decimal_text(voice[d] or 0),
                "increment": form.get(f"increment_{d}", "").strip(),
                "connect_fee": decimal_text(connect[d] or 0),
            }
            for d in DIRECTIONS
        },
        "numbers": {
            "included": plain_number(form.get("included_numbers", "0")),
            **{t: {"monthly": decimal_text(numbers[t] or 0)} for t in NUMBER_TYPES},
        },
    }
    if plan_id is not None:
        spec["takes_effect"] = takes_effect  # audited with the change, when there is one
    document = {"agencies": [{"id": agency_id, "plans": [spec]}]}
    caller = CatalogCaller(actor, agency_id, may_move_money=False)
    apply_form(
        uow_factory, document, "plan form", now, caller, PLAN_FIELDS, "the plan was not saved"
    )
    return new_id


def _below_wholesale(
    card: WholesaleCard, voice: dict[str, int | None], numbers: dict[str, int | None]
) -> list[FieldError]:
    errors = []
    for d, micros in voice.items():
        rate = card.voice.get(d)
        if micros is not None and rate is not None and micros < rate.per_minute_micros:
            errors.append(
                FieldError(
                    f"rate_{d}",
                    f"{d} {decimal_text(micros)} is below the wholesale {rate_text(rate)}"
                    " per minute; tick the confirmation to sell at a loss",
                    f"rate_{d}",
                )
            )
    for t, micros in numbers.items():
        floor = card.number_monthly_micros.get(t, 0)
        if micros is not None and micros < floor:
            errors.append(
                FieldError(
                    f"number_{t}",
                    f"{t} number {decimal_text(micros)} is below the wholesale "
                    f"{decimal_text(floor)} a month; tick the confirmation to sell at a loss",
                    f"number_{t}",
                )
            )
    return errors
