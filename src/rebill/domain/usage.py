"""Funding calls as they are recorded (BILLING_MODEL §5): the included pool, then the credit
wallet (debited at once), then postpaid. `PeriodUsage` holds one sub-account's counters for one
period; `fund` rates one call against them and returns how it was paid.

The pool's size is the allowance of the plan in force at the call's start, so after an upgrade
it is the new plan's full allowance minus the included seconds already used.
"""

from __future__ import annotations

from dataclasses import dataclass

from rebill.domain.money import round_div
from rebill.domain.plan import Plan

# Seconds are counted in millionths where a call's overage splits between credits and postpaid.
SECONDS_SCALE = 1_000_000


@dataclass
class Wallet:
    """A sub-account's prepaid credits in micros; `fund` never takes it below zero."""

    balance_micros: int

    def take(self, wanted_micros: int) -> int:
        taken = min(wanted_micros, max(0, self.balance_micros))
        self.balance_micros -= taken
        return taken


@dataclass(frozen=True)
class CallFunding:
    """How one call was paid on the retail side."""

    billable_seconds: int
    included_seconds: int
    overage_seconds: int
    credit_micros: int
    postpaid_micros: int
    # The postpaid seconds of a call are its overage seconds in proportion to the unpaid share
    # of its cost; only a call where the wallet runs dry has a fraction (kept to 10^-6 s).
    postpaid_seconds_e6: int
    rate_micros: int
    rate_decimals: int

    @property
    def overage_micros(self) -> int:
        return self.credit_micros + self.postpaid_micros

    @property
    def credit_seconds_e6(self) -> int:
        return self.overage_seconds * SECONDS_SCALE - self.postpaid_seconds_e6


@dataclass
class PeriodUsage:
    """One sub-account's running counters for one period."""

    billable_seconds: int = 0
    included_used_seconds: int = 0
    credit_seconds_e6: int = 0
    postpaid_seconds_e6: int = 0
    credit_micros: int = 0
    postpaid_micros: int = 0
    calls: int = 0

    @property
    def overage_micros(self) -> int:
        """Money spent on overage in the period (credits and postpaid): the spend cap's measure."""
        return self.credit_micros + self.postpaid_micros

    def pool_remaining_seconds(self, plan: Plan) -> int:
        return max(0, plan.included_seconds - self.included_used_seconds)

    def fund(
        self, plan: Plan, direction: str, duration_seconds: int, wallet: Wallet
    ) -> CallFunding:
        rate = plan.voice[direction]
        billable = rate.increment.billable_seconds(duration_seconds)
        in_pool = min(billable, self.pool_remaining_seconds(plan))
        over_seconds = billable - in_pool
        cost = rate.cost_micros(over_seconds) if over_seconds else 0
        from_wallet = wallet.take(cost)
        unpaid = cost - from_wallet
        if unpaid == 0 and cost:
            postpaid_e6 = 0
        elif from_wallet == 0:
            postpaid_e6 = over_seconds * SECONDS_SCALE  # a free overage (rate 0) is postpaid
        else:
            postpaid_e6 = round_div(over_seconds * unpaid * SECONDS_SCALE, cost)
        funding = CallFunding(
            billable,
            in_pool,
            over_seconds,
            from_wallet,
            unpaid,
            postpaid_e6,
            rate.per_minute_micros,
            rate.per_minute_decimals,
        )
        self.calls += 1
        self.billable_seconds += billable
        self.included_used_seconds += in_pool
        self.credit_seconds_e6 += funding.credit_seconds_e6
        self.postpaid_seconds_e6 += postpaid_e6
        self.credit_micros += from_wallet
        self.postpaid_micros += unpaid
        return funding
