"""The months of calls as storage holds them: on PostgreSQL one partition per month, made
ahead of time, detachable once billed (issue 12). SQLite keeps one table and has none."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CallMonth:
    period: str
    table: str
    attached: bool
    rows: int  # the store's estimate for an attached month; exact when just (de)tached


@dataclass(frozen=True)
class MonthBilling:
    """What the rule on detaching a month reads: the agencies with calls in it, those that
    have closed it, and its late calls not billed by a later close yet."""

    agencies: tuple[str, ...]
    closed: tuple[str, ...]
    unbilled_late_calls: int


class CallArchive(Protocol):
    partitioned: bool  # False: one table (SQLite), and the methods below refuse

    def months(self) -> list[CallMonth]: ...

    def prepare(self, periods: Iterable[str]) -> list[str]:
        """Make the months' partitions that are missing; the periods made."""
        ...

    def billing(self, period: str) -> MonthBilling: ...

    def detach(self, period: str) -> CallMonth: ...

    def attach(self, period: str) -> CallMonth: ...
