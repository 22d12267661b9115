"""An in-memory fake of the repositories (cosmicpython's `FakeRepository`), enough to run the
use cases that rate, fund and close (`record_calls`, `close_period`) without a database: the
usage, wallet, invoice and ledger repositories in full, and the plain ones they read (agency,
plans, sub-accounts, numbers, periods, alerts, top-ups, webhooks) kept simple. Repositories no
such use case touches raise on first use, so a test that reaches one says so.

`FakeUnitOfWork` keeps what a `with` block wrote only when it commits: it snapshots the world
on entry and puts the snapshot back on exit unless committed (a rollback)."""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Any, NoReturn, cast

from rebill.domain.account import Agency, Brand, Platform, SubAccount
from rebill.domain.caps import Caps
from rebill.domain.charges import HeldNumber, PlanChange
from rebill.domain.invoice import invoice_number, series_prefix
from rebill.domain.ledger import JournalEntry, Posting
from rebill.domain.money import micros_per_minor
from rebill.domain.plan import Plan, WholesaleCard
from rebill.domain.tax_decision import BuyerTaxIdentity
from rebill.domain.usage import PeriodUsage
from rebill.services.invoicing.billing import stored_draft
from rebill.services.ports import (
    AgencyRepository,
    AgencyUserRepository,
    AgencyView,
    Alert,
    AlertRepository,
    AuditRepository,
    AuthorizationSnapshot,
    BrandRepository,
    CallRecord,
    CallStart,
    CallTotals,
    CampaignRepository,
    CampaignUsage,
    CampaignUse,
    CheckoutRepository,
    DomainRepository,
    GatewayLinkRepository,
    InvitationRepository,
    InvoiceRepository,
    LedgerRepository,
    LinkStateRepository,
    NumberedDraft,
    NumberRepository,
    OpenCampaigns,
    PaymentRepository,
    PeriodClose,
    PeriodRepository,
    PeriodUsageLine,
    PlanRepository,
    PlatformView,
    QueuedEvent,
    RatedCall,
    StateChange,
    StoredInvoice,
    SubAccountRepository,
    Subscription,
    TopUpRepository,
    TopUpRequest,
    UnitOfWork,
    UnitOfWorkFactory,
    UsageKey,
    UsageRepository,
    WalletRepository,
    WebhookRepository,
    WholesaleOverride,
    WholesalePrices,
    WholesaleRepository,
)


# -- the world: what the fake stores ---------------------------------------------------------
@dataclass
class StoredCall:
    rated: RatedCall
    billed_period: str | None = None  # the close that billed it, for a late call


@dataclass
class AgencyData:
    """Everything one agency has, as plain values."""

    agency: Agency
    card: WholesaleCard
    brand: Brand = field(default_factory=lambda: Brand("Agency"))
    subs: dict[str, SubAccount] = field(default_factory=dict)
    countries: dict[str, str] = field(default_factory=dict)
    plans: dict[str, Plan] = field(default_factory=dict)
    history: dict[str, list[PlanChange]] = field(default_factory=lambda: defaultdict(list))
    numbers: dict[str, list[HeldNumber]] = field(default_factory=lambda: defaultdict(list))
    calls: dict[str, StoredCall] = field(default_factory=dict)
    slots: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    counters: dict[UsageKey, PeriodUsage] = field(default_factory=dict)
    campaigns: set[CampaignUse] = field(default_factory=set)
    accrued_micros: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    wallets: dict[str, int] = field(default_factory=dict)
    entries: dict[str, JournalEntry] = field(default_factory=dict)
    invoices: dict[str, StoredInvoice] = field(default_factory=dict)
    invoice_keys: dict[str, str] = field(default_factory=dict)
    closes: dict[str, PeriodClose] = field(default_factory=dict)
    period_lines: dict[str, list[PeriodUsageLine]] = field(default_factory=dict)
    alerts: dict[tuple[str, str, str, str], Alert] = field(default_factory=dict)
    top_ups: list[TopUpRequest] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    queued: list[QueuedEvent] = field(default_factory=list)
    dunning_holds: dict[str, str] = field(default_factory=dict)  # sub-account -> refusal reason


@dataclass
class World:
    platform: Platform | None = None
    platform_brand: Brand = field(default_factory=lambda: Brand("Platform"))
    agencies: dict[str, AgencyData] = field(default_factory=dict)
    series: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class Unused:
    """A repository no use case under test should touch."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> NoReturn:
        raise AssertionError(f"the fake has no {self._name}.{attribute}")


# -- usage, wallets, ledger, invoices: in full -----------------------------------------------
class FakeUsage:
    def __init__(self, data: AgencyData) -> None:
        self.data = data

    def stored_calls(self, call_ids: Sequence[str]) -> dict[str, CallRecord | None]:
        return {c: self.data.calls[c].rated.call for c in call_ids if c in self.data.calls}

    def insert_calls(self, calls: Sequence[RatedCall]) -> None:
        for rated in calls:
            assert rated.call.call_id not in self.data.calls, "a call id is stored once"
            self.data.calls[rated.call.call_id] = StoredCall(rated)

    def period_call_totals(self, period: str) -> list[CallTotals]:
        groups: dict[tuple[str, str, int, int], list[RatedCall]] = defaultdict(list)
        for stored in self.data.calls.values():
            r = stored.rated
            if r.period == period and not r.late:
                key = (r.call.sub_account_id, r.call.direction)
                groups[(*key, r.funding.rate_micros, r.funding.rate_decimals)].append(r)
        return [
            _totals(sub, period, direction, rate, decimals, group)
            for (sub, direction, rate, decimals), group in groups.items()
        ]

    def claim_late_calls(self, period: str) -> None:
        for stored in self.data.calls.values():
            r = stored.rated
            if r.late and stored.billed_period is None and r.period < period:
                stored.billed_period = period

    def late_call_totals(self, period: str) -> list[CallTotals]:
        groups: dict[tuple[str, str, str], list[RatedCall]] = defaultdict(list)
        for stored in self.data.calls.values():
            r = stored.rated
            if r.late and stored.billed_period == period:
                groups[(r.call.sub_account_id, r.period, r.call.direction)].append(r)
        return [
            _totals(sub, own_period, direction, 0, 0, group)
            for (sub, own_period, direction), group in groups.items()
        ]

    def call_starts(self, sub_account_id: str, start: datetime, end: datetime) -> list[CallStart]:
        return [
            CallStart(s.rated.call.started_at, s.rated.funding.billable_seconds)
            for s in self.data.calls.values()
            if s.rated.call.sub_account_id == sub_account_id
            and start <= s.rated.call.started_at < end
        ]

    def wholesale_cost_by_sub_account(self, period: str) -> dict[str, int]:
        costs: dict[str, int] = defaultdict(int)
        for s in self.data.calls.values():
            if s.rated.period == period:
                costs[s.rated.call.sub_account_id] += s.rated.wholesale_cost_micros
        return dict(costs)

    def authorization_snapshot(
        self, sub_account_id: str, period: str, now: datetime, call_id: str | None = None
    ) -> AuthorizationSnapshot | None:
        sub = self.data.subs.get(sub_account_id)
        if sub is None:
            return None
        usage = self.data.counters.get(UsageKey(sub_account_id, period), PeriodUsage())
        active = sum(
            1
            for slot_call, (slot_sub, expires_at) in self.data.slots.items()
            if slot_sub == sub_account_id and expires_at > now and slot_call != call_id
        )
        return AuthorizationSnapshot(
            sub,
            usage.billable_seconds,
            usage.included_used_seconds,
            usage.overage_micros,
            self.data.wallets.get(sub_account_id, 0),
            active,
            self.data.dunning_holds.get(sub_account_id),
        )

    def reserve_call(self, call_id: str, sub_account_id: str, expires_at: datetime) -> None:
        self.data.slots[call_id] = (sub_account_id, expires_at)

    def release_calls(self, call_ids: Sequence[str]) -> None:
        for call_id in call_ids:
            self.data.slots.pop(call_id, None)

    def counters(
        self,
        period: str | None = None,
        keys: Iterable[UsageKey] | None = None,
        for_update: bool = False,
    ) -> dict[UsageKey, PeriodUsage]:
        """Copies, as a database hands out: the caller's changes count once saved."""
        wanted = set(keys) if keys is not None else None
        return {
            key: replace(usage)
            for key, usage in self.data.counters.items()
            if (period is None or key.period == period) and (wanted is None or key in wanted)
        }

    def save_counters(self, counters: dict[UsageKey, PeriodUsage], existing: set[UsageKey]) -> None:
        for key, usage in counters.items():
            assert (key in self.data.counters) == (key in existing), key
            self.data.counters[key] = replace(usage)

    def add_campaigns(self, used: set[CampaignUse]) -> None:
        self.data.campaigns |= used

    def campaign_counts(self, period: str) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for use in self.data.campaigns:
            if use.period == period:
                counts[use.sub_account_id] += 1
        return dict(counts)

    def add_agency_usage(self, micros_by_period: dict[str, int]) -> None:
        for period, micros in micros_by_period.items():
            self.data.accrued_micros[period] += micros

    def exposure_micros(self) -> int:
        unit = micros_per_minor(self.data.agency.currency)
        invoiced = sum(
            i.total_minor
            for i in self.data.invoices.values()
            if i.kind == "wholesale" and i.status == "open"
        )
        closed = self.data.closes
        accrued = sum(m for period, m in self.data.accrued_micros.items() if period not in closed)
        return invoiced * unit + accrued


def _totals(
    sub: str, period: str, direction: str, rate: int, decimals: int, group: list[RatedCall]
) -> CallTotals:
    return CallTotals(
        sub,
        period,
        direction,
        rate,
        decimals,
        sum(r.funding.postpaid_micros for r in group),
        sum(r.funding.postpaid_seconds_e6 for r in group),
        sum(r.funding.credit_micros for r in group),
        sum(r.wholesale_billable_seconds for r in group),
        sum(r.wholesale_cost_micros for r in group),
    )


class FakeWallets:
    def __init__(self, data: AgencyData) -> None:
        self.data = data

    def balances(
        self, sub_account_ids: Iterable[str] | None = None, for_update: bool = False
    ) -> dict[str, int]:
        wallets = self.data.wallets
        if sub_account_ids is None:
            return dict(wallets)
        return {s: wallets[s] for s in set(sub_account_ids) if s in wallets}

    def set_balances(self, balances: dict[str, int], existing: set[str] | None = None) -> None:
        for sub, balance in balances.items():
            assert balance >= 0, f"wallet of {sub} below zero"
            self.data.wallets[sub] = balance

    def add(self, sub_account_id: str, delta_micros: int) -> int:
        balance = self.data.wallets.get(sub_account_id, 0) + delta_micros
        assert balance >= 0, f"wallet of {sub_account_id} cannot go below zero"
        self.data.wallets[sub_account_id] = balance
        return balance

    def take(self, sub_account_id: str, amount_micros: int) -> tuple[int, int] | None:
        if sub_account_id not in self.data.wallets:
            return None
        taken = min(amount_micros, self.data.wallets[sub_account_id])
        self.data.wallets[sub_account_id] -= taken
        return taken, self.data.wallets[sub_account_id]


class FakeLedger:
    def __init__(self, data: AgencyData) -> None:
        self.data = data

    def has_entry(self, key: str) -> bool:
        return key in self.data.entries

    def post(self, entry: JournalEntry) -> bool:
        if self.has_entry(entry.idempotency_key):
            return False
        self.post_many([entry])
        return True

    def post_many(self, entries: Sequence[JournalEntry]) -> None:
        for entry in entries:
            assert entry.agency_id == self.data.agency.id, "another agency's entry"
            assert entry.idempotency_key not in self.data.entries, entry.idempotency_key
            self.data.entries[entry.idempotency_key] = entry

    def claim(self, key: str, description: str, occurred_at: datetime, currency: str) -> bool:
        if key in self.data.entries:
            return False
        agency_id = self.data.agency.id
        self.data.entries[key] = JournalEntry(
            agency_id, key, description, occurred_at, currency, ()
        )
        return True

    def add_postings(self, key: str, currency: str, postings: Sequence[Posting]) -> None:
        entry = self.data.entries[key]
        self.data.entries[key] = replace(entry, postings=(*entry.postings, *postings))

    def entry_amount(self, key: str, account: str) -> int | None:
        entry = self.data.entries.get(key)
        if entry is None:
            return None
        return sum(p.amount_micros for p in entry.postings if p.account == account)

    def balance_micros(self, account: str) -> int:
        return self.balances(account).get(account, 0)

    def balances(self, prefix: str) -> dict[str, int]:
        found: dict[str, int] = defaultdict(int)
        for entry in self.data.entries.values():
            for posting in entry.postings:
                if posting.account.startswith(prefix):
                    found[posting.account] += posting.amount_micros
        return dict(found)


class FakeInvoices:
    def __init__(self, data: AgencyData, world: World) -> None:
        self.data = data
        self.world = world

    def reserve_numbers(self, issuer_prefix: str, kind: str, count: int) -> list[str]:
        series = series_prefix(issuer_prefix, kind)
        first = self.world.series[series] + 1
        self.world.series[series] += count
        return [invoice_number(series, n) for n in range(first, first + count)]

    def number_for_key(self, idempotency_key: str) -> str | None:
        return self.data.invoice_keys.get(idempotency_key)

    def lock(self, number: str) -> None:
        pass  # one writer at a time in a test

    def mark(self, number: str, status: str) -> str | None:
        invoice = self.data.invoices.get(number)
        if invoice is None:
            return None
        self.data.invoices[number] = replace(invoice, status=status)
        return invoice.status

    def save(self, documents: Sequence[NumberedDraft]) -> None:
        for numbered in documents:
            d = numbered.draft
            assert d.agency_id == self.data.agency.id, "another agency's document"
            # As the SQL store reads it back (the close's own document is built the same way).
            self.data.invoices[numbered.number] = stored_draft(numbered)
            if d.idempotency_key:
                self.data.invoice_keys[d.idempotency_key] = numbered.number

    def find(
        self, period: str | None = None, kind: str | None = None, number: str | None = None
    ) -> list[StoredInvoice]:
        found = [
            i
            for i in self.data.invoices.values()
            if (not period or i.period == period)
            and (not kind or i.kind == kind)
            and (not number or i.number == number)
        ]
        return sorted(found, key=lambda i: (i.issued_at, i.number))


# -- the plain ones the rating and the close read --------------------------------------------
class FakeAgency:
    def __init__(self, data: AgencyData) -> None:
        self.data = data

    def get(self) -> Agency | None:
        return self.data.agency

    def save(self, agency: Agency, agency_monthly_fee_micros: int | None, now: datetime) -> None:
        self.data.agency = agency

    def lock(self, exclusive: bool) -> None:
        pass


class FakeBrand:
    def __init__(self, holder: AgencyData | World) -> None:
        self.holder = holder

    def get(self) -> Brand:
        holder = self.holder
        return holder.brand if isinstance(holder, AgencyData) else holder.platform_brand

    def save(self, brand: Brand) -> None:
        if isinstance(self.holder, AgencyData):
            self.holder.brand = brand
        else:
            self.holder.platform_brand = brand


class FakeWholesale:
    def __init__(self, data: AgencyData) -> None:
        self.data = data

    def card(self, period: str | None = None) -> WholesaleCard:
        return self.data.card  # the fake keeps no scheduled changes

    def override(self) -> WholesaleOverride:
        return WholesaleOverride(None, WholesalePrices())

    def save_override(self, prices: WholesalePrices) -> None:
        card = self.data.card
        voice = {**card.voice, **prices.voice}
        numbers = {**card.number_monthly_micros, **prices.number_monthly_micros}
        self.data.card = replace(card, voice=voice, number_monthly_micros=numbers)


class FakePlans:
    def __init__(self, data: AgencyData) -> None:
        self.data = data

    def save(self, plan: Plan) -> None:
        self.data.plans[plan.id] = plan

    def all(self, ids: set[str] | None = None) -> dict[str, Plan]:
        return {k: p for k, p in self.data.plans.items() if ids is None or k in ids}

    def history(
        self, plans: dict[str, Plan], sub_account_ids: set[str] | None = None
    ) -> dict[str, list[PlanChange]]:
        found: dict[str, list[PlanChange]] = defaultdict(list)
        for sub in sorted(self.data.history):
            if sub_account_ids is None or sub in sub_account_ids:
                found[sub] = [
                    c if c.plan.version is not None else replace(c, plan=plans[c.plan.id])
                    for c in self.history_of(sub)
                ]
        return found

    def history_of(self, sub_account_id: str) -> list[PlanChange]:
        return sorted(self.data.history.get(sub_account_id, []), key=lambda c: c.effective_at)

    def add_change(self, sub_account_id: str, change: PlanChange, now: datetime) -> None:
        self.data.history[sub_account_id].append(change)

    def drop_changes_after(self, sub_account_id: str, after: datetime) -> None:
        changes = self.data.history[sub_account_id]
        changes[:] = [c for c in changes if c.effective_at <= after]

    def keep_terms(self, plan_id: str, for_whom: str, start: datetime, now: datetime) -> int:
        old = self.data.plans[plan_id]
        taken = [p.version or 0 for c in self.data.history.values() for p in (x.plan for x in c)]
        kept = replace(old, version=max(taken, default=0) + 1)
        keeping = 0
        for changes in self.data.history.values():
            on = [
                i
                for i, c in enumerate(changes)
                if c.plan.id == plan_id
                and c.plan.version is None
                and (for_whom == "new_clients" or c.effective_at < start)
            ]
            if not on:
                continue
            keeping += 1
            for i in on:
                changes[i] = replace(changes[i], plan=kept)
            if for_whom == "next_period" and all(c.effective_at < start for c in changes):
                changes.append(PlanChange(start, old, "version"))
        return keeping


class FakeSubAccounts:
    def __init__(self, data: AgencyData) -> None:
        self.data = data

    def get(self, sub_account_id: str) -> SubAccount | None:
        return self.data.subs.get(sub_account_id)

    def all(self, ids: set[str] | None = None) -> dict[str, SubAccount]:
        return {k: s for k, s in self.data.subs.items() if ids is None or k in ids}

    def ids(self) -> list[str]:
        return sorted(self.data.subs)

    def countries(self) -> dict[str, str]:
        return {sub: self.data.countries.get(sub) or "US" for sub in self.data.subs}

    def tax_identities(self) -> dict[str, BuyerTaxIdentity]:
        return {k: s.tax_identity for k, s in self.data.subs.items()}

    def save(self, sub: SubAccount, country: str | None, now: datetime) -> None:
        self.data.subs[sub.id] = sub
        self.data.countries[sub.id] = country or ""

    def set_caps(self, sub_account_id: str, caps: Caps) -> None:
        self.data.subs[sub_account_id] = replace(self.data.subs[sub_account_id], caps=caps)

    def set_state(
        self, sub_account_id: str, state: str, actor: str, reason: str, at: datetime
    ) -> str:
        raise AssertionError("the fake keeps no state history")

    def state_changes(self, sub_account_id: str) -> list[StateChange]:
        return []


class FakeNumbers:
    def __init__(self, data: AgencyData) -> None:
        self.data = data

    def all(self) -> dict[str, list[HeldNumber]]:
        return {
            sub: sorted(held, key=lambda n: n.rented_at) for sub, held in self.data.numbers.items()
        }

    def of(self, sub_account_id: str) -> list[HeldNumber]:
        return self.all().get(sub_account_id, [])

    def holder(self, e164: str) -> str | None:
        return next(
            (
                sub
                for sub, held in self.data.numbers.items()
                for n in held
                if n.e164 == e164 and n.released_at is None
            ),
            None,
        )

    def add(self, sub_account_id: str, number: HeldNumber) -> None:
        self.data.numbers[sub_account_id].append(number)

    def release(self, number: HeldNumber, at: datetime) -> None:
        for held in self.data.numbers.values():
            if number in held:
                held[held.index(number)] = replace(number, released_at=at)


class FakePeriods:
    def __init__(self, data: AgencyData) -> None:
        self.data = data

    def close_of(self, period: str) -> PeriodClose | None:
        return self.data.closes.get(period)

    def closed(self) -> list[str]:
        return sorted(self.data.closes)

    def save_close(self, close: PeriodClose) -> None:
        assert close.period not in self.data.closes, "a period closes once"
        self.data.closes[close.period] = close

    def save_usage(self, period: str, lines: Sequence[PeriodUsageLine]) -> None:
        self.data.period_lines[period] = list(lines)

    def usage(self, period: str) -> list[PeriodUsageLine]:
        return sorted(self.data.period_lines.get(period, []), key=lambda line: line.sub_account_id)


class FakeAlerts:
    def __init__(self, data: AgencyData) -> None:
        self.data = data

    def add(self, alert: Alert) -> bool:
        key = (alert.sub_account_id, alert.metric, alert.threshold, alert.period)
        if key in self.data.alerts:
            return False
        self.data.alerts[key] = alert
        return True

    def all(self, pending: bool = False) -> list[Alert]:
        alerts = [a for a in self.data.alerts.values() if not pending or a.delivered_at is None]
        return sorted(alerts, key=lambda a: (a.fired_at, a.metric, a.threshold))

    def mark_delivered(self, alert: Alert, at: datetime) -> None:
        key = (alert.sub_account_id, alert.metric, alert.threshold, alert.period)
        self.data.alerts[key] = replace(alert, delivered_at=at)

    def claim(self, alert: Alert, at: datetime) -> bool:
        key = (alert.sub_account_id, alert.metric, alert.threshold, alert.period)
        current = self.data.alerts.get(key)
        if current is None or current.delivered_at is not None:
            return False
        self.data.alerts[key] = replace(current, delivered_at=at)
        return True


class FakeTopUps:
    def __init__(self, data: AgencyData) -> None:
        self.data = data

    def add(
        self, sub_account_id: str, trigger_key: str, amount_micros: int, provider: str, at: datetime
    ) -> bool:
        mine = [r for r in self.data.top_ups if r.sub_account_id == sub_account_id]
        if any(r.status == "pending" or r.trigger_key == trigger_key for r in mine):
            return False
        request = TopUpRequest(sub_account_id, trigger_key, amount_micros, provider, "pending", at)
        self.data.top_ups.append(request)
        return True

    def count_since(self, sub_account_id: str, since: datetime) -> int:
        return sum(
            1
            for r in self.data.top_ups
            if r.sub_account_id == sub_account_id and r.requested_at >= since
        )

    def all(self) -> list[TopUpRequest]:
        return sorted(self.data.top_ups, key=lambda r: r.requested_at)

    def get_locked(self, sub_account_id: str, trigger_key: str) -> TopUpRequest | None:
        return next(
            (
                r
                for r in self.data.top_ups
                if r.sub_account_id == sub_account_id and r.trigger_key == trigger_key
            ),
            None,
        )

    def update(
        self,
        sub_account_id: str,
        trigger_key: str,
        status: str,
        idempotency_key: str | None,
        receipt: str | None = None,
        message: str | None = None,
        charged_tax_minor: int | None = None,
    ) -> None:
        raise AssertionError("the fake charges no top-up")


class FakeWebhooks:
    """Subscriptions given by the test; queued events kept to be read back."""

    def __init__(self, data: AgencyData) -> None:
        self.data = data

    def subscriptions(self) -> list[Subscription]:
        return list(self.data.subscriptions)

    def queue(self, events: Sequence[QueuedEvent], now: datetime) -> None:
        self.data.queued.extend(events)

    def __getattr__(self, attribute: str) -> NoReturn:
        raise AssertionError(f"the fake has no webhooks.{attribute}")


# -- the views and the unit of work ----------------------------------------------------------
class FakeCampaigns:
    def __init__(self, data: AgencyData) -> None:
        self.data = data

    def open_campaigns(self, sub_account_id: str, period: str, campaign_id: str) -> OpenCampaigns:
        mine = {
            u.campaign_id
            for u in self.data.campaigns
            if u.sub_account_id == sub_account_id and u.period == period
        }
        return OpenCampaigns(len(mine), campaign_id in mine)

    def usage_by_campaign(self, period: str) -> list[CampaignUsage]:
        sums: dict[tuple[str, str | None], list[int]] = {}
        for stored in self.data.calls.values():
            rated = stored.rated
            if rated.period != period:
                continue
            key = (rated.call.sub_account_id, rated.call.campaign_id)
            row = sums.setdefault(key, [0, 0, 0, 0])
            f = rated.funding
            row[0] += 1
            row[1] += f.billable_seconds
            row[2] += f.credit_micros + f.postpaid_micros
            row[3] += rated.wholesale_cost_micros
        return [
            CampaignUsage(sub, campaign, *values)
            for (sub, campaign), values in sorted(
                sums.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
            )
        ]


class FakePayments:
    """Payments are not faked: authorization reads its dunning hold with the snapshot
    (`data.dunning_holds`), and any other read fails the test."""

    def __init__(self, data: AgencyData) -> None:
        self.data = data

    def __getattr__(self, attribute: str) -> NoReturn:
        raise AssertionError(f"the fake has no payments.{attribute}")


class FakeAgencyView:
    def __init__(self, world: World, agency_id: str) -> None:
        assert agency_id, "an agency view needs an agency id"
        self.agency_id = agency_id
        data = world.agencies[agency_id]
        self.agency: AgencyRepository = FakeAgency(data)
        self.brand: BrandRepository = FakeBrand(data)
        self.wholesale: WholesaleRepository = FakeWholesale(data)
        self.plans: PlanRepository = FakePlans(data)
        self.sub_accounts: SubAccountRepository = FakeSubAccounts(data)
        self.numbers: NumberRepository = FakeNumbers(data)
        self.usage: UsageRepository = FakeUsage(data)
        self.campaigns: CampaignRepository = FakeCampaigns(data)
        self.wallets: WalletRepository = FakeWallets(data)
        self.ledger: LedgerRepository = FakeLedger(data)
        self.invoices: InvoiceRepository = FakeInvoices(data, world)
        self.periods: PeriodRepository = FakePeriods(data)
        self.alerts: AlertRepository = FakeAlerts(data)
        self.top_ups: TopUpRepository = FakeTopUps(data)
        self.webhooks: WebhookRepository = cast(WebhookRepository, FakeWebhooks(data))
        self.gateway = cast(GatewayLinkRepository, Unused("gateway"))
        self.payments = cast(PaymentRepository, FakePayments(data))
        self.checkouts = cast(CheckoutRepository, Unused("checkouts"))
        self.link_states = cast(LinkStateRepository, Unused("link_states"))
        self.domains = cast(DomainRepository, Unused("domains"))
        self.users = cast(AgencyUserRepository, Unused("users"))
        self.invitations = cast(InvitationRepository, Unused("invitations"))
        self.audit = cast(AuditRepository, Unused("audit"))


class FakePlatformSettings:
    def __init__(self, world: World) -> None:
        self.world = world

    def get(self) -> Platform | None:
        return self.world.platform

    def agency_monthly_fee_micros(self) -> int:
        return 0

    def save(self, platform: Platform, agency_monthly_fee_micros: int | None) -> None:
        self.world.platform = platform


class FakeAgencyDirectory:
    def __init__(self, world: World) -> None:
        self.world = world

    def ids(self) -> list[str]:
        return sorted(self.world.agencies)

    def with_prefix(self, invoice_prefix: str) -> str | None:
        return next(
            (
                k
                for k, a in self.world.agencies.items()
                if a.agency.invoice_prefix == invoice_prefix
            ),
            None,
        )

    def for_gateway_account(self, account_id: str) -> str | None:
        return None


class FakePlatformView:
    def __init__(self, world: World) -> None:
        self.settings = FakePlatformSettings(world)
        self.brand = FakeBrand(world)
        self.agencies = FakeAgencyDirectory(world)

    def __getattr__(self, attribute: str) -> NoReturn:
        raise AssertionError(f"the fake has no platform.{attribute}")


class FakeUnitOfWork:
    """One transaction over `world`: what it wrote is kept only when committed."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.committed = False
        self._snapshot: dict[str, Any] | None = None

    @property
    def platform(self) -> PlatformView:
        return cast(PlatformView, FakePlatformView(self.world))

    def for_agency(self, agency_id: str) -> AgencyView:
        return FakeAgencyView(self.world, agency_id)

    def __enter__(self) -> FakeUnitOfWork:
        self._snapshot = copy.deepcopy(self.world.__dict__)
        self.committed = False
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    def commit(self) -> None:
        self._snapshot = copy.deepcopy(self.world.__dict__)
        self.committed = True

    def rollback(self) -> None:
        """Put back what was committed last (nothing happens when nothing changed since)."""
        if self._snapshot is not None and self.world.__dict__ != self._snapshot:
            self.world.__dict__.update(copy.deepcopy(self._snapshot))


def fake_uow_factory(world: World) -> UnitOfWorkFactory:
    """A unit-of-work factory over `world` (each call a new transaction)."""

    def factory() -> UnitOfWork:
        return FakeUnitOfWork(world)

    return factory
