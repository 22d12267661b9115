"""Funding a sub-account's calls for one period (BILLING_MODEL §5): the included pool in
chronological order of (started_at, call_id), then the credit wallet, then postpaid.

`UsageMeter` is fed calls in that order (and plan changes as they take effect) and keeps only
integer aggregates, so a month of millions of calls needs constant memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from rebill.domain.plan import Plan
from rebill.domain.rating import VoiceRate


@dataclass
class OverageBucket:
    """Postpaid overage of one direction at one price: a line of the retail invoice. Seconds
    are whole except for the one call where the wallet runs dry (kept apart: ints are fast)."""

    whole_seconds: int = 0
    split_seconds: Fraction = Fraction(0)
    amount_micros: int = 0

    @property
    def seconds(self) -> Fraction:
        return self.whole_seconds + self.split_seconds


@dataclass
class UsageMeter:
    """Retail side of one sub-account in one period."""

    plan: Plan
    pool_seconds: int
    wallet_micros: int
    billable_seconds: int = 0
    included_used_seconds: int = 0
    credit_whole_seconds: int = 0
    credit_split_seconds: Fraction = Fraction(0)
    credit_micros: int = 0
    postpaid: dict[tuple[str, int, int], OverageBucket] = field(default_factory=dict)
    calls: int = 0
    campaigns: set[str] = field(default_factory=set)

    @classmethod
    def start(cls, plan: Plan, wallet_micros: int, pool_seconds: int | None = None) -> UsageMeter:
        pool = plan.included_seconds if pool_seconds is None else pool_seconds
        return cls(plan=plan, pool_seconds=pool, wallet_micros=wallet_micros)

    @property
    def pool_remaining_seconds(self) -> int:
        return max(0, self.pool_seconds - self.included_used_seconds)

    def change_plan(self, plan: Plan, upgrade: bool) -> None:
        """An upgrade takes effect at once: the pool becomes the new plan's full allowance
        (what was already used stays used). A downgrade only changes the next period."""
        if upgrade:
            self.plan = plan
            self.pool_seconds = plan.included_seconds

    def add_call(self, direction: str, duration_seconds: int, campaign_id: str | None) -> int:
        """Fund one call; returns its retail overage cost in micros (credits + postpaid)."""
        rate: VoiceRate = self.plan.voice[direction]
        billable = rate.increment.billable_seconds(duration_seconds)
        self.calls += 1
        if campaign_id:
            self.campaigns.add(campaign_id)
        if billable == 0:
            return 0
        self.billable_seconds += billable
        in_pool = min(billable, self.pool_remaining_seconds)
        self.included_used_seconds += in_pool
        over_seconds = billable - in_pool
        if over_seconds == 0:
            return 0
        cost = rate.cost_micros(over_seconds)
        from_wallet = min(cost, self.wallet_micros)
        self.wallet_micros -= from_wallet
        self.credit_micros += from_wallet
        unpaid = cost - from_wallet
        if unpaid == 0 and cost:
            self.credit_whole_seconds += over_seconds
            return cost
        key = (direction, rate.per_minute_micros, rate.per_minute_decimals)
        bucket = self.postpaid.get(key)
        if bucket is None:
            bucket = self.postpaid[key] = OverageBucket()
        bucket.amount_micros += unpaid
        if from_wallet == 0:
            bucket.whole_seconds += over_seconds  # a free overage (rate 0) is all postpaid
            return cost
        # The postpaid seconds of a call are its overage seconds in proportion to the unpaid
        # share of its cost.
        paid_seconds = Fraction(over_seconds * from_wallet, cost)
        self.credit_split_seconds += paid_seconds
        bucket.split_seconds += over_seconds - paid_seconds
        return cost

    @property
    def credit_seconds(self) -> Fraction:
        return self.credit_whole_seconds + self.credit_split_seconds

    @property
    def postpaid_seconds(self) -> Fraction:
        return sum((b.seconds for b in self.postpaid.values()), Fraction(0))

    @property
    def overage_micros(self) -> int:
        return self.credit_micros + sum(b.amount_micros for b in self.postpaid.values())


@dataclass
class WholesaleMeter:
    """Wholesale side of one agency: every billable second, no pool, per direction."""

    seconds: dict[str, int] = field(default_factory=dict)
    micros: dict[str, int] = field(default_factory=dict)

    def add_call(self, direction: str, duration_seconds: int, rate: VoiceRate) -> int:
        billable = rate.increment.billable_seconds(duration_seconds)
        cost = rate.cost_micros(billable)
        self.seconds[direction] = self.seconds.get(direction, 0) + billable
        self.micros[direction] = self.micros.get(direction, 0) + cost
        return cost
