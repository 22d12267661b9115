"""`close_period`: close a month for one agency or all (BILLING_MODEL §9).

One agency's close is one transaction: sum the period's calls (rated and funded when they were
recorded) and the late calls of earlier periods, issue the retail invoices (sub-accounts by id)
and the wholesale invoice, post the ledger, record the profit report. A crash anywhere rolls
the agency back whole, so a rerun yields the same invoices and numbers. Closing a closed
period prints what it issued.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from rebill.domain.account import Agency
from rebill.domain.charges import (
    HeldNumber,
    PlanChange,
    recurring_for_period,
    renewal_plan,
    renewed_numbers,
)
from rebill.domain.errors import ConflictError, TaxNotConfiguredError
from rebill.domain.invoice import InvoiceDraft
from rebill.domain.ledger import Accounts
from rebill.domain.money import (
    format_minor,
    format_rate,
    micros_to_minor,
    minutes_text,
    scaled_minutes_text,
)
from rebill.domain.period import Period, prorate_micros
from rebill.domain.plan import WholesaleCard
from rebill.domain.rating import DIRECTIONS
from rebill.domain.tax import TaxPolicy
from rebill.domain.tax_decision import BuyerTaxIdentity, Seller, buyer_tax_policy
from rebill.domain.usage import SECONDS_SCALE, PeriodUsage
from rebill.services.accounts.tenant import open_agency
from rebill.services.invoicing.billing import invoice_entry
from rebill.services.invoicing.documents import lines_document
from rebill.services.invoicing.stripe_tax import STRIPE_TAX_FIXES, StripeTax, stripe_tax
from rebill.services.notifications.webhooks import emit_all
from rebill.services.payments.gateway import GatewayContext
from rebill.services.payments.tax_records import record_close_taxes
from rebill.services.ports import (
    AgencyView,
    CallTotals,
    NumberedDraft,
    PeriodClose,
    PeriodUsageLine,
    StoredInvoice,
    UnitOfWork,
    UnitOfWorkFactory,
    UsageKey,
)

FOREVER = datetime.max.replace(tzinfo=UTC)


# What a close issued, as stored: its record, the retail invoices, the wholesale invoice and
# each sub-account's part of the period.
Issued = tuple[PeriodClose, list[NumberedDraft], NumberedDraft, list[PeriodUsageLine]]
# An invoice in the close's document: its number, its status and the invoice, as stored (read
# back) or as drafted (just written; the same fields, the same values).
Documented = tuple[str, str, StoredInvoice | InvoiceDraft]


def close_period(
    uow_factory: UnitOfWorkFactory,
    period: Period,
    agency_ids: list[str] | None,
    now: datetime,
    context: GatewayContext | None = None,
) -> list[dict[str, Any]]:
    """Close `period` for the agencies given (all when None), each in its own transaction.
    Agencies in `stripe` tax mode need `context` (their Stripe account's Tax)."""
    with uow_factory() as uow:
        if agency_ids is None:
            agency_ids = uow.platform.agencies.ids()
        # Every agency named exists, before any is closed; only those in `stripe` tax mode
        # have Stripe's settings read (a close in that mode without them is refused).
        modes = {agency_id: open_agency(uow, agency_id)[0].tax.mode for agency_id in agency_ids}
    documents = []
    for agency_id in agency_ids:
        taxer = None
        if modes[agency_id] == "stripe":
            taxer = stripe_tax(uow_factory, context, agency_id, period)
        if taxer is not None:
            # A dry run (rolled back) collects the calculations to ask; Stripe is asked with
            # no transaction open, so the close proper holds its locks for no HTTP call.
            taxer.collecting = True
            with uow_factory() as dry:
                close_agency_period(dry, agency_id, period, now, taxer)
            taxer.collecting = False
            taxer.prefetch()
        with uow_factory() as uow:
            document = close_agency_period(uow, agency_id, period, now, taxer)
            uow.commit()
        if taxer is not None:  # Stripe Tax as the record (services/payments/tax_records.py)
            record_close_taxes(uow_factory, context, agency_id, str(period), now, taxer)
        documents.append(document)
    return documents


def close_agency_period(
    uow: UnitOfWork,
    agency_id: str,
    period: Period,
    now: datetime,
    taxer: StripeTax | None = None,
) -> dict[str, Any]:
    """Close one agency's period in the caller's transaction (or read it back when it is
    closed already)."""
    agency, tenant = open_agency(uow, agency_id)
    # Checked before the lock (a closed period is read back without waiting) and again after
    # it: a close running at the same time commits first, and this one then prints its result.
    if tenant.periods.close_of(str(period)) is None and _locked_and_still_open(tenant, period):
        platform = uow.platform.settings.get()
        assert platform is not None, "an agency exists only under a platform"
        record, retail, wholesale, usage = _close(
            tenant, agency, platform.invoice_prefix, period, now, taxer
        )
        # What was just written, as a read would give it back (no second pass over it).
        return _document(
            agency,
            record,
            [(d.number, d.status, d.draft) for d in retail],
            (wholesale.number, wholesale.status, wholesale.draft),
            usage,
        )
    return period_document(tenant, agency, period)


def _locked_and_still_open(tenant: AgencyView, period: Period) -> bool:
    """Take the agency's exclusive lock (no import and no other close of it runs meanwhile)
    and look again: on PostgreSQL each statement sees what committed before it."""
    tenant.agency.lock(exclusive=True)
    return tenant.periods.close_of(str(period)) is None


def _close(
    tenant: AgencyView,
    agency: Agency,
    platform_prefix: str,
    period: Period,
    now: datetime,
    taxer: StripeTax | None,
) -> Issued:
    """Issue and record the period's documents; what was written, as stored."""
    tz = agency.tz
    end = period.end(tz)
    if now < end:
        raise ConflictError(
            f"period {period} of agency {agency.id!r} ends at {end.astimezone(tz).isoformat()} "
            f"({agency.timezone}); it can be closed after that"
        )
    if agency.tax.mode == "stripe" and taxer is None:
        raise TaxNotConfiguredError(["stripe_account"], STRIPE_TAX_FIXES)
    # The caller holds the agency's exclusive lock, so no import of it runs while it closes: a
    # call either made it in, or arrives after and is recorded as late (billed by the next close).
    label = str(period)
    history = tenant.plans.history(tenant.plans.all())
    numbers = tenant.numbers.all()
    card = tenant.wholesale.card(label)
    tenant.usage.claim_late_calls(label)
    totals = [*tenant.usage.period_call_totals(label), *tenant.usage.late_call_totals(label)]
    by_sub: dict[str, list[CallTotals]] = {}
    for row in totals:
        by_sub.setdefault(row.sub_account_id, []).append(row)
    counters = tenant.usage.counters(period=label)
    campaigns = tenant.usage.campaign_counts(label)
    countries = tenant.sub_accounts.countries() if taxer else {}
    # Manual tax is decided per buyer (docs/tax.md): the seller is the agency's brand.
    buyers = tenant.sub_accounts.tax_identities()
    seller = Seller("")  # what the other modes' policies ignore
    if agency.tax.mode == "manual":
        brand = tenant.brand.get()
        seller = Seller(brand.country, brand.tax_id)
    subs = {s for s in buyers if history.get(s) and history[s][0].effective_at < end} | set(by_sub)
    month = _Month.of(period, tz, agency.currency)
    no_buyer = BuyerTaxIdentity()
    closed = []
    for sub_id in sorted(subs):  # the defaults made only for the clients without the data
        usage = counters.get(UsageKey(sub_id, label))
        closed.append(
            _close_sub(
                agency,
                month,
                sub_id,
                by_sub.get(sub_id) or [],
                PeriodUsage() if usage is None else usage,
                campaigns.get(sub_id, 0),
                history.get(sub_id) or [],
                numbers.get(sub_id) or [],
                card,
                taxer,
                countries.get(sub_id, ""),
                (seller, buyers.get(sub_id, no_buyer)),
            )
        )
    wholesale_draft = _wholesale_draft(agency, platform_prefix, period, totals, numbers, card)
    retail, wholesale, usage_lines = _issue(tenant, agency, label, closed, wholesale_draft)
    revenue_minor = sum(c.revenue_minor for c in closed)
    record = PeriodClose(
        label, now, wholesale.number, revenue_minor, wholesale.draft.subtotal_minor
    )
    tenant.periods.save_close(record)
    return record, retail, wholesale, usage_lines


def _issue(
    tenant: AgencyView,
    agency: Agency,
    label: str,
    closed: list[ClosedSubAccount],
    wholesale_draft: InvoiceDraft,
) -> tuple[list[NumberedDraft], NumberedDraft, list[PeriodUsageLine]]:
    """Number, store and post the retail invoices and the wholesale invoice (as `finalize`
    does, once per idempotency key), record each sub-account's part of the period and
    announce the invoices: one statement per kind of row, whatever their number. The
    invoices and the usage lines as stored."""
    drafts = [c.draft for c in closed]
    numbers = tenant.invoices.reserve_numbers(agency.invoice_prefix, "retail", len(drafts))
    numbered = [NumberedDraft(d, n, "open") for d, n in zip(drafts, numbers, strict=True)]
    entries = [
        invoice_entry(d.draft, d.number, Accounts.receivable(d.draft.sub_account_id or ""))
        for d in numbered
    ]
    wholesale_number = tenant.invoices.number_for_key(wholesale_draft.idempotency_key)
    wholesale = NumberedDraft(wholesale_draft, wholesale_number or "", "open")
    if not wholesale_number:
        (number,) = tenant.invoices.reserve_numbers(wholesale_draft.issuer, wholesale_draft.kind, 1)
        wholesale = NumberedDraft(wholesale_draft, number, "open")
        entries.append(invoice_entry(wholesale_draft, number, Accounts.WHOLESALE_COST))
    tenant.invoices.save(numbered if wholesale_number else [*numbered, wholesale])
    tenant.ledger.post_many(entries)
    usage_lines = [
        PeriodUsageLine(
            c.draft.sub_account_id or "", c.draft.usage or {}, c.revenue_minor, c.cost_minor
        )
        for c in closed
    ]
    tenant.periods.save_usage(label, usage_lines)
    subscriptions = tenant.webhooks.subscriptions()
    if numbered:  # every retail invoice of a close is issued at the period's end
        events = (_event(d.number, d.draft) for d in numbered)
        emit_all(tenant.webhooks, "invoice.finalized", events, drafts[0].issued_at, subscriptions)
    emit_all(
        tenant.webhooks,
        "invoice.finalized",
        [_event(wholesale.number, wholesale_draft)],
        wholesale_draft.issued_at,
        subscriptions,
    )
    return numbered, wholesale, usage_lines


@dataclass(frozen=True)
class ClosedSubAccount:
    draft: InvoiceDraft
    revenue_minor: int
    cost_minor: int


@dataclass(frozen=True)
class _Month:
    """What every sub-account's invoice of one close shares, computed once: the period's
    bounds and labels, and the texts its lines repeat (descriptions, prices as shown)."""

    period: Period
    label: str
    next_label: str
    start: datetime
    end: datetime
    next_start: datetime
    tz: ZoneInfo
    currency: str
    overage_descriptions: dict[str, str]
    number_descriptions: dict[str, str]
    _prices: dict[int, str] = field(default_factory=dict)
    _rates: dict[tuple[int, int], str] = field(default_factory=dict)

    @classmethod
    def of(cls, period: Period, tz: ZoneInfo, currency: str) -> _Month:
        start, end = period.bounds(tz)
        label, next_label = str(period), str(period.next())
        overage = {d: f"{d.capitalize()} minutes beyond the plan, {label}" for d in DIRECTIONS}
        numbers = {t: f"{t.replace('_', '-')} numbers, {next_label}" for t in NUMBER_TYPES}
        return cls(period, label, next_label, start, end, end, tz, currency, overage, numbers)

    def price_text(self, micros: int) -> str:
        """A monthly price as its line shows it (rounded to the minor unit)."""
        text = self._prices.get(micros)
        if text is None:
            currency = self.currency
            text = self._prices[micros] = format_minor(micros_to_minor(micros, currency), currency)
        return text

    def rate_text(self, rate_micros: int, decimals: int) -> str:
        key = (rate_micros, decimals)
        text = self._rates.get(key)
        if text is None:
            text = self._rates[key] = format_rate(rate_micros, decimals, self.currency)
        return text


NUMBER_TYPES = ("local", "toll_free")


def _close_sub(
    agency: Agency,
    month: _Month,
    sub_id: str,
    totals: list[CallTotals],
    usage: PeriodUsage,
    campaigns: int,
    history: list[PlanChange],
    numbers: list[HeldNumber],
    card: WholesaleCard,
    taxer: StripeTax | None = None,
    country: str = "",
    parties: tuple[Seller, BuyerTaxIdentity] = (Seller(""), BuyerTaxIdentity()),
) -> ClosedSubAccount:
    """One sub-account's retail invoice (a draft: the close numbers and stores them all at
    once), its usage summary, and its revenue and cost for the period."""
    currency = agency.currency
    label = month.label
    start, end = month.start, month.end
    draft = InvoiceDraft(
        kind="retail",
        issuer=agency.invoice_prefix,
        agency_id=agency.id,
        sub_account_id=sub_id,
        period=label,
        currency=currency,
        issued_at=end,
        tax=taxer.policy(agency) if taxer else buyer_tax_policy(agency.tax, *parties),
        idempotency_key=f"close:{label}:{sub_id}",
        buyer=parties[1],
    )
    own = [t for t in totals if t.period == label]
    late = [t for t in totals if t.period != label] if len(own) < len(totals) else []
    for direction in DIRECTIONS:
        mine = [t for t in own if t.direction == direction]
        if not mine:
            continue
        if len(mine) == 1:  # one rate (most clients): its line
            (t,) = mine
            draft.add_line(
                f"voice.overage.{direction}",
                month.overage_descriptions[direction],
                scaled_minutes_text(t.postpaid_seconds_e6, SECONDS_SCALE),
                month.rate_text(t.rate_micros, t.rate_decimals),
                t.postpaid_micros,
            )
            continue
        # By rate (a rate shown with other decimals is its own line, summed with its rate's)
        for rate_micros, decimals in sorted({(t.rate_micros, t.rate_decimals) for t in mine}):
            group = [t for t in mine if t.rate_micros == rate_micros]
            draft.add_line(
                f"voice.overage.{direction}",
                month.overage_descriptions[direction],
                scaled_minutes_text(sum(t.postpaid_seconds_e6 for t in group), SECONDS_SCALE),
                month.rate_text(rate_micros, decimals),
                sum(t.postpaid_micros for t in group),
            )
    for late_period in sorted({t.period for t in late}):
        group = [t for t in late if t.period == late_period]
        draft.add_line(
            "voice.late_usage",
            f"Calls of {late_period} received after its close",
            scaled_minutes_text(sum(t.postpaid_seconds_e6 for t in group), SECONDS_SCALE),
            None,
            sum(t.postpaid_micros for t in group),
        )
    plan = renewal_plan(history, month.next_start)
    if plan is not None:
        draft.add_line(
            "plan.fee",
            f"{plan.name} plan, {month.next_label}",
            "1",
            month.price_text(plan.monthly_fee_micros),
            plan.monthly_fee_micros,
        )
        renewed = renewed_numbers(numbers, month.next_start, plan.included_numbers)
        for number_type in NUMBER_TYPES:
            count = sum(1 for n in renewed if n.number_type == number_type)
            price = plan.number_monthly_micros.get(number_type, 0)
            draft.add_line(
                f"number.rental.{number_type}",
                month.number_descriptions[number_type],
                str(count),
                month.price_text(price),
                price * count,
            )
    draft.usage = {
        "billable_minutes": minutes_text(usage.billable_seconds),
        "included_minutes_used": minutes_text(usage.included_used_seconds),
        "credit_minutes": scaled_minutes_text(usage.credit_seconds_e6, SECONDS_SCALE),
        "postpaid_minutes": scaled_minutes_text(usage.postpaid_seconds_e6, SECONDS_SCALE),
        "numbers": sum(1 for n in numbers if n.rented_at < end and n.held_at(end)),
        "campaigns": campaigns,
    }
    if taxer is not None:
        taxer.apply(draft, country)
    credit_micros = sum(t.credit_micros for t in totals)
    revenue = _revenue_minor(draft, history, numbers, agency, month, credit_micros)
    number_prices = card.number_monthly_micros
    cost = micros_to_minor(
        sum(t.wholesale_cost_micros for t in totals)
        + sum(
            prorate_micros(
                number_prices.get(n.number_type, 0),
                n.rented_at,
                n.released_at or FOREVER,
                start,
                end,
            )
            for n in numbers
        ),
        currency,
    )
    return ClosedSubAccount(draft, revenue, cost)


def _revenue_minor(
    draft: InvoiceDraft,
    history: list[PlanChange],
    numbers: list[HeldNumber],
    agency: Agency,
    month: _Month,
    credit_micros: int,
) -> int:
    """Retail attributable to the period, net of tax: its recurring fees (renewal and immediate
    charges, each rounded as on its document), its usage lines and the credits spent on
    overage (already net: the credit purchase carried the tax)."""
    currency = agency.currency
    tax = draft.tax  # the agency's, as decided for this buyer
    charges = recurring_for_period(
        history, numbers, month.tz, month.period, (month.start, month.end)
    )
    if tax.inclusive:
        recurring = 0
        for c in charges:
            amount_minor = micros_to_minor(c.amount_micros, currency)
            recurring += amount_minor - tax.line_tax_minor(amount_minor)
        usage = sum(
            line.amount_minor - line.tax_minor
            for line in draft.lines
            if line.code.startswith("voice.")
        )
    else:
        recurring = sum(micros_to_minor(c.amount_micros, currency) for c in charges)
        usage = sum(line.amount_minor for line in draft.lines if line.code.startswith("voice."))
    return recurring + usage + micros_to_minor(credit_micros, currency)


def _wholesale_draft(
    agency: Agency,
    prefix: str,
    period: Period,
    totals: list[CallTotals],
    numbers: dict[str, list[HeldNumber]],
    card: WholesaleCard,
) -> InvoiceDraft:
    """The agency's wholesale invoice for the period (numbered and stored with the retail
    ones)."""
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
        group = [t for t in totals if t.direction == direction]
        draft.add_line(
            f"voice.{direction}",
            f"{direction.capitalize()} minutes, {period}",
            minutes_text(sum(t.wholesale_billable_seconds for t in group)),
            format_rate(rate.per_minute_micros, rate.per_minute_decimals, currency),
            sum(t.wholesale_cost_micros for t in group),
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
    return draft


def _event(number: str, draft: InvoiceDraft) -> dict[str, Any]:
    currency = draft.currency
    return {
        "number": number,
        "kind": draft.kind,
        "sub_account": draft.sub_account_id,
        "period": draft.period,
        "currency": currency,
        "subtotal": format_minor(draft.subtotal_minor, currency),
        "tax": format_minor(draft.tax_minor, currency),
        "total": format_minor(draft.total_minor, currency),
    }


def period_document(tenant: AgencyView, agency: Agency, period: Period) -> dict[str, Any]:
    """The `close --json` document of a closed period, read back from what was stored."""
    label = str(period)
    closed = tenant.periods.close_of(label)
    assert closed is not None
    invoices = tenant.invoices.find(period=label)
    retail = [(i.number, i.status, i) for i in invoices if i.kind == "retail"]
    wholesale = next(i for i in invoices if i.kind == "wholesale")
    return _document(
        agency,
        closed,
        retail,
        (wholesale.number, wholesale.status, wholesale),
        tenant.periods.usage(label),
    )


def _document(
    agency: Agency,
    closed: PeriodClose,
    retail_invoices: Sequence[Documented],
    wholesale_invoice: Documented,
    usage_lines: list[PeriodUsageLine],
) -> dict[str, Any]:
    currency = agency.currency
    retail = sorted(retail_invoices, key=lambda i: i[0])
    usage_rows = sorted(usage_lines, key=lambda r: r.sub_account_id)
    shown: dict[datetime, str] = {}  # every retail invoice of a close has the same instant

    formatted: dict[int, str] = {}  # amounts repeat (fees, zero taxes): each formatted once

    def money(minor: int) -> str:
        text = formatted.get(minor)
        if text is None:
            text = formatted[minor] = format_minor(minor, currency)
        return text

    def local(instant: datetime) -> str:
        text = shown.get(instant)
        if text is None:
            text = shown[instant] = instant.astimezone(agency.tz).isoformat()
        return text

    number, _, wholesale = wholesale_invoice
    return {
        "agency": agency.id,
        "currency": currency,
        "retail_invoices": [
            {
                "number": number,
                "sub_account": i.sub_account_id,
                "issued_at": local(i.issued_at),
                "status": status,
                "lines": lines_document(i.lines, currency, money),
                "subtotal": money(i.subtotal_minor),
                "tax": money(i.tax_minor),
                "total": money(i.total_minor),
                "usage": i.usage,
            }
            for number, status, i in retail
        ],
        "wholesale_invoice": {
            "number": number,
            "issued_at": local(wholesale.issued_at),
            "lines": lines_document(wholesale.lines, currency, money),
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
