"""The bound agency's closed periods: the close record (the profit report's totals) and each
sub-account's usage summary, revenue and cost."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class PeriodClose:
    period: str
    closed_at: datetime
    wholesale_invoice_number: str
    revenue_minor: int
    cost_minor: int


@dataclass(frozen=True)
class PeriodUsageLine:
    """One sub-account's part of a closed period."""

    sub_account_id: str
    usage: dict[str, object]  # the summary its invoice carries
    revenue_minor: int
    cost_minor: int


class PeriodRepository(Protocol):
    def close_of(self, period: str) -> PeriodClose | None: ...

    def closed(self) -> list[str]:
        """The closed periods, oldest first."""
        ...

    def save_close(self, close: PeriodClose) -> None: ...

    def save_usage(self, period: str, lines: Sequence[PeriodUsageLine]) -> None: ...

    def usage(self, period: str) -> list[PeriodUsageLine]:
        """The period's lines, by sub-account."""
        ...
