"""The bound agency's usage: rated calls, the parallel-call slots authorizations hold, the
per-period counters calls are funded against, the campaigns seen in a period and the
wholesale the agency has accrued."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from rebill.domain.account import SubAccount
from rebill.domain.usage import CallFunding, PeriodUsage


@dataclass(frozen=True)
class CallRecord:
    """A validated call record, ready to store."""

    call_id: str
    sub_account_id: str
    started_at: datetime
    duration_seconds: int
    direction: str
    campaign_id: str | None = None
    phone_number: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class RatedCall:
    """A call with both ratings and how its retail side was paid."""

    call: CallRecord
    period: str
    late: bool
    funding: CallFunding
    wholesale_billable_seconds: int
    wholesale_cost_micros: int


@dataclass(frozen=True)
class CallTotals:
    """Sums over a group of calls (per sub-account, period, direction, retail rate)."""

    sub_account_id: str
    period: str
    direction: str
    rate_micros: int
    rate_decimals: int
    postpaid_micros: int
    postpaid_seconds_e6: int
    credit_micros: int
    wholesale_billable_seconds: int
    wholesale_cost_micros: int


@dataclass(frozen=True)
class CallStart:
    """When a call started and its retail billable seconds (the panel's daily chart)."""

    started_at: datetime
    billable_seconds: int


@dataclass(frozen=True)
class AuthorizationSnapshot:
    """What an authorization reads about a sub-account, in one query."""

    sub_account: SubAccount
    billable_seconds: int
    included_used_seconds: int
    spent_micros: int
    wallet_micros: int
    active_calls: int
    # Why an unpaid invoice holds the sub-account's calls (`agency_unpaid` before
    # `unpaid_invoice`), or None: a suspended dunning case whose invoice is no longer open
    # holds nothing, so a payment lifts it at once.
    dunning_hold: str | None = None


class UsageKey(NamedTuple):
    """Which counter: a sub-account's, in a period."""

    sub_account_id: str
    period: str


@dataclass(frozen=True, order=True)
class CampaignUse:
    """A campaign seen in a sub-account's period (counted once however many calls)."""

    sub_account_id: str
    period: str
    campaign_id: str


class UsageRepository(Protocol):
    # -- calls ------------------------------------------------------------------------------
    def stored_calls(self, call_ids: Sequence[str]) -> dict[str, CallRecord | None]:
        """The calls already stored under any of `call_ids`, as they were received (None: stored
        in a month detached for archiving, its content not at hand)."""
        ...

    def insert_calls(self, calls: Sequence[RatedCall]) -> None: ...

    def period_call_totals(self, period: str) -> list[CallTotals]:
        """The period's own calls (not late ones), summed per sub-account, direction and
        retail rate."""
        ...

    def claim_late_calls(self, period: str) -> None:
        """Late calls of earlier periods not billed yet are billed by `period`'s close."""
        ...

    def late_call_totals(self, period: str) -> list[CallTotals]:
        """The late calls `period`'s close claimed, summed per sub-account, their own period
        and direction."""
        ...

    def call_starts(self, sub_account_id: str, start: datetime, end: datetime) -> list[CallStart]:
        """A sub-account's calls that started in [start, end)."""
        ...

    def wholesale_cost_by_sub_account(self, period: str) -> dict[str, int]: ...

    # -- authorizations and their slots -----------------------------------------------------
    def authorization_snapshot(
        self, sub_account_id: str, period: str, now: datetime, call_id: str | None = None
    ) -> AuthorizationSnapshot | None:
        """The sub-account, its period counters, wallet, active calls (other than `call_id`'s
        own slot) and dunning hold, in one statement."""
        ...

    def reserve_call(self, call_id: str, sub_account_id: str, expires_at: datetime) -> None: ...

    def release_calls(self, call_ids: Sequence[str]) -> None: ...

    # -- counters, campaigns and the agency's accrued wholesale -----------------------------
    def counters(
        self,
        period: str | None = None,
        keys: Iterable[UsageKey] | None = None,
        for_update: bool = False,
    ) -> dict[UsageKey, PeriodUsage]:
        """Counters of one period, or of the keys given (locked with `for_update`)."""
        ...

    def save_counters(self, counters: dict[UsageKey, PeriodUsage], existing: set[UsageKey]) -> None:
        """Write counters back: those in `existing` were read, the others are new."""
        ...

    def add_campaigns(self, used: set[CampaignUse]) -> None: ...

    def campaign_counts(self, period: str) -> dict[str, int]:
        """How many campaigns each sub-account ran in the period."""
        ...

    def add_agency_usage(self, micros_by_period: dict[str, int]) -> None:
        """The wholesale the agency accrued, by period."""
        ...

    def exposure_micros(self) -> int:
        """Unpaid wholesale: open wholesale invoices plus what open periods have accrued."""
        ...
