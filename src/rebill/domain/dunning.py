"""Dunning: what happens after an off-session charge of an invoice fails (BILLING_MODEL §8).

Invoices are due on receipt. The first failed charge of an open retail or wholesale invoice
starts its timeline: the charge is retried `retry_days` after that first failure (default 1, 3
and 5 days), each retry a new attempt with its own idempotency key; the payer is told at each
failure; once `grace_days` have passed since the first failure (default 7) with the invoice
still open, its payer is suspended: a sub-account for its own retail invoice (authorization
reason `unpaid_invoice`), every sub-account of the agency for its wholesale invoice
(`agency_unpaid`). Paying the invoice by any means lifts the suspension at once."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_RETRY_DAYS = (1, 3, 5)
DEFAULT_GRACE_DAYS = 7
retries_max = 10
retry_day_max = 60
grace_days_max = 90
UNPAID_INVOICE = "unpaid_invoice"
AGENCY_UNPAID = "agency_unpaid"


@dataclass(frozen=True)
class DunningPolicy:
    """When failed charges are retried and when an unpaid payer is suspended."""

    retry_days: tuple[int, ...] = DEFAULT_RETRY_DAYS
    grace_days: int = DEFAULT_GRACE_DAYS

    def __post_init__(self) -> None:
        for problem in policy_problems(list(self.retry_days), self.grace_days):
            raise ValueError(problem)

    def text(self) -> str:
        return ",".join(str(d) for d in self.retry_days)

    @classmethod
    def parse(cls, retry_days: str, grace_days: int) -> DunningPolicy:
        days = tuple(int(d) for d in retry_days.split(",") if d.strip())
        return cls(days, grace_days)

    def retry_at(self, first_failed_at: datetime, retry: int) -> datetime:
        """When retry number `retry` (1-based) is due."""
        return first_failed_at + timedelta(days=self.retry_days[retry - 1])

    def retries_due(self, first_failed_at: datetime, now: datetime) -> int:
        """How many retries are due by `now` (the schedule's entries that have passed)."""
        return sum(1 for d in self.retry_days if first_failed_at + timedelta(days=d) <= now)

    def suspend_at(self, first_failed_at: datetime) -> datetime:
        return first_failed_at + timedelta(days=self.grace_days)


def policy_problems(retry_days: list[int], grace_days: int) -> list[str]:
    """What is wrong with a policy (an empty list when nothing is)."""
    problems = []
    if len(retry_days) > retries_max:
        problems.append(f"at most {retries_max} retries")
    if any(not 1 <= d <= retry_day_max for d in retry_days):
        problems.append(f"retry days are from 1 to {retry_day_max}")
    if any(b <= a for a, b in itertools.pairwise(retry_days)):
        problems.append("retry days increase strictly")
    if not 0 <= grace_days <= grace_days_max:
        problems.append(f"the grace period is from 0 to {grace_days_max} days")
    return problems


DEFAULT_POLICY = DunningPolicy()


@dataclass(frozen=True)
class DunningStep:
    """What happens next to an unpaid invoice, and when."""

    action: str  # retry | suspend | suspended
    at: datetime | None
    retry: int | None = None


def next_step(
    policy: DunningPolicy, first_failed_at: datetime, retries_done: int, suspended: bool
) -> DunningStep:
    """The next step of an invoice whose first charge failed at `first_failed_at`."""
    if suspended:
        return DunningStep("suspended", None)
    suspend_at = policy.suspend_at(first_failed_at)
    if retries_done < len(policy.retry_days):
        retry_at = policy.retry_at(first_failed_at, retries_done + 1)
        if retry_at < suspend_at:
            return DunningStep("retry", retry_at, retries_done + 1)
    return DunningStep("suspend", suspend_at)
