"""Caps, alert thresholds and call authorization (BILLING_MODEL §8).

`decide` is the pure authorization rule: from a sub-account's state, plan, period counters,
wallet and caps it says whether a call may start and for how long. `max_duration_seconds` is
the longest call whose billable time stays inside the included pool + wallet + cap headroom,
on the increment grid (credits worth 61 s at `60/6` allow 60 s, not 61); None when unbounded.
`crossed_thresholds` says which alert thresholds a measure has reached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from rebill.domain.plan import UNLIMITED, Plan
from rebill.domain.rating import Increment, VoiceRate

REASONS = (
    "sub_account_suspended",
    "agency_credit_limit",
    "parallel_calls_limit",
    "minutes_cap_reached",
    "spend_cap_reached",
    "insufficient_credits",
    "unpaid_invoice",  # dunning: the sub-account's own invoice, unpaid past the grace period
    "agency_unpaid",  # dunning: the agency's wholesale invoice, unpaid past the grace period
)
ENFORCEMENTS = ("block", "notify")
METRICS = (
    "included_minutes",
    "monthly_spend",
    "monthly_minutes",
    "wallet_low",
    "agency_credit_limit",
)
alerts_per_metric_max = 10


@dataclass(frozen=True)
class Caps:
    monthly_spend_micros: int | None = None
    monthly_minutes: int | None = None
    alerts: tuple[Fraction, ...] = ()
    enforcement: str = "notify"
    wallet_alert_below_micros: int | None = None

    @property
    def blocking(self) -> bool:
        return self.enforcement == "block"


@dataclass(frozen=True)
class AuthorizationInput:
    """Everything one decision needs, read in one go."""

    state: str
    plan: Plan
    direction: str
    included_used_seconds: int
    billable_seconds: int
    spent_micros: int
    wallet_micros: int
    caps: Caps
    parallel_calls_limit: int
    active_calls: int
    agency_over_credit_limit: bool = False


@dataclass(frozen=True)
class Decision:
    allowed: bool
    max_duration_seconds: int | None
    reason: str | None = None
    details: dict[str, int] = field(default_factory=dict)


def refuse(reason: str) -> Decision:
    assert reason in REASONS, reason
    return Decision(False, 0, reason)


def longest_affordable_overage(rate: VoiceRate, budget_micros: int) -> int | None:
    """The most overage seconds whose cost (rounded half up, plus the connect fee) fits in the
    budget; None when overage is free."""
    money = budget_micros - rate.connect_fee_micros
    if money < 0:
        return 0
    if rate.per_minute_micros == 0:
        return None
    # round_div(s × rate, 60) ≤ money  ⟺  s × rate < 60 × money + 30
    return (60 * money + 29) // rate.per_minute_micros


def snap_down(increment: Increment, billable_seconds: int) -> int:
    """The largest billable amount on the increment's grid that is at most `billable_seconds`."""
    first, step = increment.first_seconds, increment.step_seconds
    if billable_seconds < first:
        return 0
    return first + (billable_seconds - first) // step * step


def decide(given: AuthorizationInput) -> Decision:
    if given.state != "active":
        return refuse("sub_account_suspended")
    if given.agency_over_credit_limit:
        return refuse("agency_credit_limit")
    limit = given.parallel_calls_limit
    if limit != UNLIMITED and given.active_calls >= limit:
        return refuse("parallel_calls_limit")
    caps, plan = given.caps, given.plan
    rate = plan.voice[given.direction]
    bounds: list[tuple[int, str]] = []  # (billable seconds allowed, reason when it is zero)
    if caps.blocking and caps.monthly_minutes is not None:
        headroom = caps.monthly_minutes * 60 - given.billable_seconds
        if headroom <= 0:
            return refuse("minutes_cap_reached")
        bounds.append((headroom, "minutes_cap_reached"))
    pool = max(0, plan.included_seconds - given.included_used_seconds)
    budgets: list[tuple[int, str]] = []
    if caps.blocking and caps.monthly_spend_micros is not None:
        spend_headroom = caps.monthly_spend_micros - given.spent_micros
        if spend_headroom <= 0:
            return refuse("spend_cap_reached")
        budgets.append((spend_headroom, "spend_cap_reached"))
    if plan.overage == "prepaid":
        budgets.append((max(0, given.wallet_micros), "insufficient_credits"))
    for budget, reason in budgets:
        overage = longest_affordable_overage(rate, budget)
        if overage is not None:
            bounds.append((pool + overage, reason))
    if not bounds:
        return Decision(True, None)
    longest = snap_down(rate.increment, min(billable for billable, _ in bounds))
    if longest == 0:
        # Every bound that leaves no call refuses it; name the first in the documented order.
        refusing = [r for b, r in bounds if snap_down(rate.increment, b) == 0]
        return refuse(min(refusing, key=REASONS.index))
    return Decision(True, longest)


def crossed_thresholds(
    used: Fraction | int, limit: Fraction | int, thresholds: tuple[Fraction, ...]
) -> list[Fraction]:
    """The thresholds (fractions of `limit`) that `used` has reached."""
    if limit <= 0:
        return []
    ratio = Fraction(used) / Fraction(limit)
    return [t for t in thresholds if ratio >= t]
