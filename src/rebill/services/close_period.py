"""`close_period`: close a month for one agency or all (BILLING_MODEL §9).

One agency's close is one transaction: claim the period's calls, fund them in order, issue the
retail invoices (sub-accounts by id) and the wholesale invoice, post the ledger, record the
profit report. A crash anywhere rolls the agency back whole, so a rerun yields the same
invoices and numbers. Closing a closed period prints what it issued.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rebill.domain.account import Agency
from rebill.domain.charges import (
    HeldNumber,
    PlanChange,
    plan_at,
    recurring_for_period,
    renewal_plan,
    renewed_numbers,
)
from rebill.domain.errors import ConflictError, NotFoundError, TaxNotConfiguredError
from rebill.domain.invoice import InvoiceDraft
from rebill.domain.ledger import Accounts, JournalEntry
from rebill.domain.money import (
    format_minor,
    format_rate,
    micros_to_minor,
    minutes_text,
)
from rebill.domain.period import Period, prorate_micros
from rebill.domain.plan import WholesaleCard
from rebill.domain.rating import DIRECTIONS
from rebill.domain.tax import TaxPolicy
from rebill.domain.usage import UsageMeter, WholesaleMeter
from rebill.services.billing import finalize, wallet_balance_micros
from rebill.services.ports import Store, UnitOfWorkFactory

FOREVER = datetime.max.replace(tzinfo=UTC)
STRIPE_TAX_FIXES = [
    "link the agency's Stripe account (rebill gateway link --provider stripe)",
]

CallTuple = tuple[str, datetime, str, int, str, str | None]


@dataclass
class SubAccountResult:
    """Everything the walk measured for one sub-account."""

    meter: UsageMeter
    late: dict[str, UsageMeter] = field(default_factory=dict)
    wholesale_micros: int = 0


@dataclass
class Measurement:
    subs: dict[str, SubAccountResult]
    wholesale: WholesaleMeter


def measure(
    store: Store,
    agency: Agency,
    period: Period,
    calls: Iterable[CallTuple],
    history: dict[str, list[PlanChange]],
    card: WholesaleCard,
) -> Measurement:
    """Fund every call in order: per sub-account, chronological by (started_at, call_id).
    Late calls (of earlier, closed periods) sort first and use those periods' leftover pool.
    Every sub-account that existed in the period gets a result, with or without calls."""
    start, end = period.bounds(agency.tz)
    wholesale = WholesaleMeter()
    subs: dict[str, SubAccountResult] = {}
    pools: dict[str, dict[str, int]] = {}
    for sub_id, group in itertools.groupby(calls, key=lambda c: c[0]):
        subs[sub_id] = _measure_sub(
            store,
            agency,
            sub_id,
            group,
            history.get(sub_id, []),
            card,
            wholesale,
            (start, end),
            pools,
        )
    for sub_id in store.sub_account_ids(agency.id):
        plans = history.get(sub_id, [])
        if sub_id not in subs and plans and plans[0].effective_at < end:
            plan = plan_at(plans, start) or plans[0].plan
            wallet = wallet_balance_micros(store, agency.id, sub_id)
            subs[sub_id] = SubAccountResult(UsageMeter.start(plan, wallet))
    return Measurement(subs, wholesale)


def _measure_sub(
    store: Store,
    agency: Agency,
    sub_id: str,
    group: Iterator[CallTuple],
    history: list[PlanChange],
    card: WholesaleCard,
    wholesale: WholesaleMeter,
    bounds: tuple[datetime, datetime],
    pools: dict[str, dict[str, int]],
) -> SubAccountResult:
    start, end = bounds
    assert history, f"sub-account {sub_id} has no plan"
    wallet = wallet_balance_micros(store, agency.id, sub_id)
    meter = UsageMeter.start(plan_at(history, start) or history[0].plan, wallet)
    result = SubAccountResult(meter)
    events = [c for c in history if start < c.effective_at < end and c.change != "downgrade"]
    event_index = 0
    voice = card.voice
    for _, started_at, _call_id, duration, direction, campaign in group:
        result.wholesale_micros += wholesale.add_call(direction, duration, voice[direction])
        if started_at < start:
            _late_call(
                store, agency, sub_id, result, history, started_at, duration, direction, pools
            )
            continue
        while event_index < len(events) and events[event_index].effective_at <= started_at:
            meter.change_plan(events[event_index].plan, upgrade=True)
            event_index += 1
        meter.add_call(direction, duration, campaign)
    return result


def _late_call(
    store: Store,
    agency: Agency,
    sub_id: str,
    result: SubAccountResult,
    history: list[PlanChange],
    started_at: datetime,
    duration: int,
    direction: str,
    pools: dict[str, dict[str, int]],
) -> None:
    """A call of an earlier, closed period: rated against that period's remaining pool. It
    shares the wallet with the period's own calls, and comes before them in time."""
    late_period = str(Period.containing(started_at, agency.tz))
    meter = result.late.get(late_period)
    if meter is None:
        if late_period not in pools:
            pools[late_period] = {
                r.sub_account_id: r.pool_remaining_seconds
                for r in store.period_usage(agency.id, late_period)
            }
        plan = plan_at(history, started_at) or history[0].plan
        pool = pools[late_period].get(sub_id, plan.included_seconds)
        meter = UsageMeter.start(plan, 0, pool)
        result.late[late_period] = meter
    meter.wallet_micros = result.meter.wallet_micros
    meter.add_call(direction, duration, None)
    result.meter.wallet_micros = meter.wallet_micros


def close_period(
    uow_factory: UnitOfWorkFactory, period: Period, agency_ids: list[str] | None, now: datetime
) -> list[dict[str, Any]]:
    """Close `period` for the agencies given (all when None), each in its own transaction."""
    with uow_factory() as uow:
        known = uow.store.list_agency_ids()
    if agency_ids is None:
        agency_ids = known
    for agency_id in agency_ids:
        if agency_id not in known:
            raise NotFoundError(f"agency {agency_id!r} does not exist")
    documents = []
    for agency_id in agency_ids:
        uow = uow_factory()
        with uow:
            document = close_agency_period(uow.store, agency_id, period, now)
            uow.commit()
        documents.append(document)
    return documents


def close_agency_period(
    store: Store, agency_id: str, period: Period, now: datetime
) -> dict[str, Any]:
    agency = store.get_agency(agency_id)
    if agency is None:
        raise NotFoundError(f"agency {agency_id!r} does not exist")
    if store.period_close(agency_id, str(period)) is None:
        _close(store, agency, period, now)
    return period_document(store, agency, period)


def _close(store: Store, agency: Agency, period: Period, now: datetime) -> None:
    tz = agency.tz
    start, end = period.bounds(tz)
    if now < end:
        raise ConflictError(
            f"period {period} of agency {agency.id!r} ends at {end.astimezone(tz).isoformat()} "
            f"({agency.timezone}); it can be closed after that"
        )
    if agency.tax.mode == "stripe":
        raise TaxNotConfiguredError(["stripe account"], STRIPE_TAX_FIXES)
    platform = store.get_platform()
    assert platform is not None, "an agency exists only under a platform"
    plans = store.plans(agency.id)
    history = store.plan_history(agency.id, plans)
    numbers = store.numbers(agency.id)
    card = store.wholesale_card(agency.id)
    label = str(period)
    store.claim_calls(agency.id, label, start, end)
    for closed in store.closed_periods(agency.id):
        if closed < label:
            q_start, q_end = Period.parse(closed).bounds(tz)
            store.claim_calls(agency.id, label, q_start, q_end)
    measurement = measure(
        store, agency, period, store.calls_billed_by(agency.id, label), history, card
    )
    revenue_total = 0
    for sub_id in sorted(measurement.subs):
        result = measurement.subs[sub_id]
        revenue_total += _close_sub(
            store,
            agency,
            period,
            sub_id,
            result,
            history.get(sub_id, []),
            numbers.get(sub_id, []),
            card,
        )
    wholesale_number, cost_minor = _wholesale_invoice(
        store, agency, platform.invoice_prefix, period, measurement.wholesale, numbers, card
    )
    store.save_period_close(agency.id, label, now, wholesale_number, revenue_total, cost_minor)


def _close_sub(
    store: Store,
    agency: Agency,
    period: Period,
    sub_id: str,
    result: SubAccountResult,
    history: list[PlanChange],
    numbers: list[HeldNumber],
    card: WholesaleCard,
) -> int:
    """Issue one sub-account's retail invoice, debit its credits, record its usage and profit.
    Returns its revenue for the period in minor units."""
    tz = agency.tz
    currency = agency.currency
    start, end = period.bounds(tz)
    meter = result.meter
    draft = InvoiceDraft(
        kind="retail",
        issuer=agency.invoice_prefix,
        agency_id=agency.id,
        sub_account_id=sub_id,
        period=str(period),
        currency=currency,
        issued_at=end,
        tax=agency.tax,
        idempotency_key=f"close:{period}:{sub_id}",
    )
    for direction in DIRECTIONS:
        for (d, rate_micros, decimals), bucket in sorted(meter.postpaid.items()):
            if d == direction:
                draft.add_line(
                    f"voice.overage.{direction}",
                    f"{direction.capitalize()} minutes beyond the plan, {period}",
                    minutes_text(bucket.seconds),
                    format_rate(rate_micros, decimals, currency),
                    bucket.amount_micros,
                )
    late_credit_micros = 0
    for late_period, late in sorted(result.late.items()):
        late_credit_micros += late.credit_micros
        late_micros = sum(b.amount_micros for b in late.postpaid.values())
        draft.add_line(
            "voice.late_usage",
            f"Calls of {late_period} received after its close",
            minutes_text(late.postpaid_seconds),
            None,
            late_micros,
        )
        store.set_pool_remaining(agency.id, late_period, sub_id, late.pool_remaining_seconds)
    next_start = period.next().start(tz)
    plan = renewal_plan(history, next_start)
    held_at_end = [n for n in numbers if n.rented_at < end and n.held_at(end)]
    if plan is not None:
        draft.add_line(
            "plan.fee",
            f"{plan.name} plan, {period.next()}",
            "1",
            format_minor(micros_to_minor(plan.monthly_fee_micros, currency), currency),
            plan.monthly_fee_micros,
        )
        renewed = renewed_numbers(numbers, next_start, plan.included_numbers)
        for number_type in ("local", "toll_free"):
            count = sum(1 for n in renewed if n.number_type == number_type)
            price = plan.number_monthly_micros.get(number_type, 0)
            draft.add_line(
                f"number.rental.{number_type}",
                f"{number_type.replace('_', '-')} numbers, {period.next()}",
                str(count),
                format_minor(micros_to_minor(price, currency), currency),
                price * count,
            )
    credit_micros = meter.credit_micros + late_credit_micros
    usage = {
        "billable_minutes": minutes_text(meter.billable_seconds),
        "included_minutes_used": minutes_text(meter.included_used_seconds),
        "credit_minutes": minutes_text(meter.credit_seconds),
        "postpaid_minutes": minutes_text(meter.postpaid_seconds),
        "numbers": len(held_at_end),
        "campaigns": len(meter.campaigns),
    }
    draft.usage = usage
    finalize(store, draft, "open", Accounts.receivable(sub_id))
    store.post_entry(
        JournalEntry.of(
            agency.id,
            f"close:{period}:credits:{sub_id}",
            f"credits spent on overage, {period}",
            end,
            currency,
            [(Accounts.wallet(sub_id), credit_micros), (Accounts.REVENUE_USAGE, -credit_micros)],
        )
    )
    revenue = _revenue_minor(draft, history, numbers, agency, period, credit_micros)
    cost = micros_to_minor(
        result.wholesale_micros
        + sum(
            prorate_micros(
                card.number_monthly_micros.get(n.number_type, 0),
                n.rented_at,
                n.released_at or FOREVER,
                start,
                end,
            )
            for n in numbers
        ),
        currency,
    )
    store.save_period_usage(
        agency.id, str(period), sub_id, meter.pool_remaining_seconds, usage, revenue, cost
    )
    return revenue


def _revenue_minor(
    draft: InvoiceDraft,
    history: list[PlanChange],
    numbers: list[HeldNumber],
    agency: Agency,
    period: Period,
    credit_micros: int,
) -> int:
    """Retail attributable to the period, net of tax: its recurring fees (renewal and immediate
    charges, each rounded as on its document), its usage lines and the credits spent on
    overage (already net: the credit purchase carried the tax)."""
    currency = agency.currency
    tax = agency.tax

    def net(amount_minor: int) -> int:
        return amount_minor - (tax.line_tax_minor(amount_minor) if tax.inclusive else 0)

    recurring = sum(
        net(micros_to_minor(c.amount_micros, currency))
        for c in recurring_for_period(history, numbers, agency.tz, period)
    )
    usage = sum(net(line.amount_minor) for line in draft.lines if line.code.startswith("voice."))
    return recurring + usage + micros_to_minor(credit_micros, currency)


def _wholesale_invoice(
    store: Store,
    agency: Agency,
    prefix: str,
    period: Period,
    wholesale: WholesaleMeter,
    numbers: dict[str, list[HeldNumber]],
    card: WholesaleCard,
) -> tuple[str, int]:
    tz = agency.tz
    currency = agency.currency
    start, end = period.bounds(tz)
    draft = InvoiceDraft(
        kind="wholesale",
        issuer=prefix,
        agency_id=agency.id,
        sub_account_id=None,
        period=str(period),
        currency=currency,
        issued_at=end,
        tax=TaxPolicy(),
        idempotency_key=f"close:{period}:wholesale",
    )
    for direction in DIRECTIONS:
        rate = card.voice[direction]
        draft.add_line(
            f"voice.{direction}",
            f"{direction.capitalize()} minutes, {period}",
            minutes_text(wholesale.seconds.get(direction, 0)),
            format_rate(rate.per_minute_micros, rate.per_minute_decimals, currency),
            wholesale.micros.get(direction, 0),
        )
    held = [n for group in numbers.values() for n in group]
    for number_type in ("local", "toll_free"):
        price = card.number_monthly_micros.get(number_type, 0)
        amounts = [
            prorate_micros(price, n.rented_at, n.released_at or FOREVER, start, end)
            for n in held
            if n.number_type == number_type
        ]
        amounts = [a for a in amounts if a > 0]
        draft.add_line(
            f"number.{number_type}",
            f"{number_type.replace('_', '-')} numbers, by seconds held in {period}",
            str(len(amounts)),
            format_minor(micros_to_minor(price, currency), currency),
            sum(amounts),
        )
    fee = card.agency_monthly_fee_micros
    draft.add_line(
        "platform.fee",
        f"Platform fee, {period}",
        "1",
        format_minor(micros_to_minor(fee, currency), currency),
        fee,
    )
    number = finalize(store, draft, "open", Accounts.WHOLESALE_COST)
    return number, draft.subtotal_minor


def period_document(store: Store, agency: Agency, period: Period) -> dict[str, Any]:
    """The `close --json` document of a closed period, read back from what was stored."""
    label = str(period)
    closed = store.period_close(agency.id, label)
    assert closed is not None
    currency = agency.currency
    invoices = store.invoices(agency_id=agency.id, period=label)
    retail = sorted((i for i in invoices if i.kind == "retail"), key=lambda i: i.number)
    wholesale = next(i for i in invoices if i.kind == "wholesale")
    usage_rows = store.period_usage(agency.id, label)

    def money(minor: int) -> str:
        return format_minor(minor, currency)

    def local(instant: datetime) -> str:
        return instant.astimezone(agency.tz).isoformat()

    def lines(inv: Any) -> list[dict[str, Any]]:
        return [
            {
                "code": ln.code,
                "description": ln.description,
                "quantity": ln.quantity,
                "unit_price": ln.unit_price,
                "amount": money(ln.amount_minor),
                "tax": money(ln.tax_minor),
            }
            for ln in inv.lines
        ]

    return {
        "agency": agency.id,
        "currency": currency,
        "retail_invoices": [
            {
                "number": i.number,
                "sub_account": i.sub_account_id,
                "issued_at": local(i.issued_at),
                "status": i.status,
                "lines": lines(i),
                "subtotal": money(i.subtotal_minor),
                "tax": money(i.tax_minor),
                "total": money(i.total_minor),
                "usage": i.usage,
            }
            for i in retail
        ],
        "wholesale_invoice": {
            "number": wholesale.number,
            "issued_at": local(wholesale.issued_at),
            "lines": lines(wholesale),
            "subtotal": money(wholesale.subtotal_minor),
            "tax": money(wholesale.tax_minor),
            "total": money(wholesale.total_minor),
        },
        "profit": {
            "revenue": money(closed.revenue_minor),
            "cost": money(closed.cost_minor),
            "profit": money(closed.revenue_minor - closed.cost_minor),
            "by_sub_account": [
                {
                    "sub_account": r.sub_account_id,
                    "revenue": money(r.revenue_minor),
                    "cost": money(r.cost_minor),
                    "profit": money(r.revenue_minor - r.cost_minor),
                }
                for r in usage_rows
            ],
        },
    }


def closed_summary(documents: list[dict[str, Any]], period: Period) -> dict[str, Any]:
    return {"period": str(period), "agencies": documents}
