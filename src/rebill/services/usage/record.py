"""`record_calls`: rate a batch of new calls on both sides and fund their retail overage at
once (BILLING_MODEL §5): the pool, then the wallet (debited now, in the same transaction as the
calls), then postpaid. Within a batch calls are funded in the order (started_at, call_id).

The counters and wallets of the sub-accounts in the batch are read locked (row locks on
PostgreSQL; SQLite has one writer at a time), so concurrent batches never overdraw a wallet nor
lose or double a debit.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from rebill.domain.account import Agency, SubAccount
from rebill.domain.charges import PlanChange, plan_at
from rebill.domain.ledger import Accounts, JournalEntry
from rebill.domain.limits import top_ups_per_day_max
from rebill.domain.period import Period
from rebill.domain.plan import Plan
from rebill.domain.usage import PeriodUsage, Wallet
from rebill.services.notifications.alerts import check_sub_account
from rebill.services.ports import AgencyView, CallRecord, CampaignUse, RatedCall, UsageKey

top_up_window = timedelta(hours=24)


@dataclass
class RatingContext:
    """What rating needs about one agency, loaded once per import."""

    agency: Agency
    history: dict[str, list[PlanChange]]
    closed: set[str]
    subs: dict[str, SubAccount]

    @classmethod
    def load(
        cls, tenant: AgencyView, agency: Agency, subs: set[str] | None = None
    ) -> RatingContext:
        """The agency's rating context; with `subs`, only those sub-accounts (an API batch
        names a few, a file import may name them all)."""
        plans = tenant.plans.all()
        return cls(
            agency,
            tenant.plans.history(plans, subs),
            set(tenant.periods.closed()),
            tenant.sub_accounts.all(subs),
        )


class _PeriodOf:
    """Period label of an instant, caching the last month's bounds (calls come in runs)."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.start: datetime | None = None
        self.end: datetime | None = None
        self.label = ""

    def __call__(self, instant: datetime) -> str:
        if self.start is None or self.end is None or not (self.start <= instant < self.end):
            period = Period.containing(instant, self.tz)
            # Bounds in UTC: a UTC instant compares with them without asking for offsets.
            self.start, self.end = (bound.astimezone(UTC) for bound in period.bounds(self.tz))
            self.label = str(period)
        return self.label


class _PlanOf:
    """The plan in force at a call's start (`plan_at`), answered at once for the usual case of a
    call after the sub-account's last plan change."""

    def __init__(self, history: dict[str, list[PlanChange]]) -> None:
        self.history = history
        self.settled: dict[str, tuple[datetime, Plan]] = {}

    def __call__(self, sub_id: str, instant: datetime) -> Plan:
        settled = self.settled.get(sub_id)
        if settled is None:
            history = self.history[sub_id]
            settled = self.settled[sub_id] = (
                max(change.effective_at for change in history),
                history[-1].plan,
            )
        if instant >= settled[0]:
            return settled[1]  # every change is in force: the loop of `plan_at` ends on the last
        history = self.history[sub_id]
        return plan_at(history, instant) or history[0].plan


def record_calls(
    tenant: AgencyView, context: RatingContext, calls: list[CallRecord], occurred_at: datetime
) -> list[RatedCall]:
    """Rate, fund and store `calls` (already validated and known to be new)."""
    if not calls:
        return []
    agency = context.agency
    period_of = _PeriodOf(agency.tz)
    plan_of = _PlanOf(context.history)
    ordered = sorted(calls, key=lambda c: (c.sub_account_id, c.started_at, c.call_id))
    labels = [period_of(c.started_at) for c in ordered]
    keys = {
        UsageKey(*pair)
        for pair in set(zip([c.sub_account_id for c in ordered], labels, strict=True))
    }
    counters = tenant.usage.counters(keys=keys, for_update=True)
    existing = set(counters)
    before = {key: replace(usage) for key, usage in counters.items()}
    for key in keys:
        counters.setdefault(key, PeriodUsage())
    subs = {c.sub_account_id for c in ordered}
    balances = tenant.wallets.balances(subs, for_update=True)
    wallets = {sub: Wallet(balances.get(sub, 0)) for sub in subs}
    spent: dict[str, int] = defaultdict(int)
    campaigns: set[tuple[str, str, str]] = set()  # hashed as plain tuples: one per call
    rated: list[RatedCall] = []
    # The platform's card in force in each call's period (a change may be scheduled).
    voices = {label: tenant.wholesale.card(label).voice for label in set(labels)}
    for call, label in zip(ordered, labels, strict=True):
        plan = plan_of(call.sub_account_id, call.started_at)
        funding = counters[UsageKey(call.sub_account_id, label)].fund(
            plan, call.direction, call.duration_seconds, wallets[call.sub_account_id]
        )
        spent[call.sub_account_id] += funding.credit_micros
        wholesale = voices[label][call.direction]
        billable = wholesale.increment.billable_seconds(call.duration_seconds)
        rated.append(
            RatedCall(
                call,
                label,
                label in context.closed,
                funding,
                billable,
                wholesale.cost_micros(billable),
            )
        )
        if call.campaign_id:
            campaigns.add((call.sub_account_id, label, call.campaign_id))
    tenant.usage.insert_calls(rated)
    tenant.usage.release_calls([c.call_id for c in ordered])
    tenant.usage.save_counters({k: counters[k] for k in keys}, existing)
    changed = {sub: w.balance_micros for sub, w in wallets.items() if spent[sub]}
    tenant.wallets.set_balances(changed, set(balances))
    tenant.usage.add_campaigns({CampaignUse(*used) for used in campaigns})
    wholesale_by_period: dict[str, int] = defaultdict(int)
    for r in rated:
        wholesale_by_period[r.period] += r.wholesale_cost_micros
    tenant.usage.add_agency_usage(dict(wholesale_by_period))
    batch = uuid.uuid4().hex
    _after_funding(tenant, context, counters, before, wallets, spent, batch, occurred_at)
    tenant.ledger.post_many(
        [
            JournalEntry.of(
                agency.id,
                f"usage:{batch}:{sub}",
                "credits spent on overage",
                occurred_at,
                agency.currency,
                [(Accounts.wallet(sub), micros), (Accounts.REVENUE_USAGE, -micros)],
            )
            for sub, micros in sorted(spent.items())
            if micros
        ]
    )
    return rated


def _after_funding(
    tenant: AgencyView,
    context: RatingContext,
    counters: dict[UsageKey, PeriodUsage],
    before: dict[UsageKey, PeriodUsage],
    wallets: dict[str, Wallet],
    spent: dict[str, int],
    batch: str,
    now: datetime,
) -> None:
    """Alerts for the counters this batch moved, and an auto top-up for a wallet it drained
    below its threshold (one pending request at a time per sub-account)."""
    agency = context.agency
    for (sub_id, label), usage in sorted(counters.items()):
        sub = context.subs[sub_id]
        history = context.history[sub_id]
        # The plan in force at the period's last instant: not a change scheduled for the next
        # period's first (a downgrade, a plan's new terms "from the next period").
        last = Period.parse(label).end(agency.tz) - timedelta(microseconds=1)
        plan = plan_at(history, last) or history[0].plan
        check_sub_account(
            tenant,
            agency,
            sub,
            plan,
            label,
            usage,
            wallets[sub_id].balance_micros,
            now,
            before.get(UsageKey(sub_id, label), PeriodUsage()),
        )
    for sub_id, micros in spent.items():
        sub = context.subs[sub_id]
        threshold, amount = sub.top_up_threshold_micros, sub.top_up_amount_micros
        if (
            micros
            and threshold is not None
            and amount
            and wallets[sub_id].balance_micros < threshold
            and tenant.top_ups.count_since(sub_id, now - top_up_window) < top_ups_per_day_max
        ):
            tenant.top_ups.add(sub_id, f"usage:{batch}", amount, "manual", now)
