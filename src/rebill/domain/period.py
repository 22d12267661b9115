"""Billing periods: calendar months in an agency's timezone, half-open [start, end) in UTC,
and second-exact proration between UTC instants (so DST changes are handled by construction)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from rebill.domain.money import round_div

_PERIOD_RE = re.compile(r"^(\d{4})-(\d{2})$", re.ASCII)
_ONE_MICROSECOND = timedelta(microseconds=1)
# The instants a billing date (a call's start, a subscription, a rental) may be: within the
# months a period can be (1970-01 to 9998-12, and one with a next month), a day inside them so
# that the agency's month is one of them whatever its time zone.
instant_min = datetime(1970, 1, 2, tzinfo=UTC)
instant_end = datetime(9998, 11, 30, tzinfo=UTC)
instant_range = (
    f"outside {instant_min:%Y-%m-%d} to {instant_end - timedelta(days=1):%Y-%m-%d} (UTC)"
)


def in_range(instant: datetime) -> bool:
    """`instant` (aware) is one a period can hold; False when it has no UTC instant at all."""
    try:
        return instant_min <= instant < instant_end
    except OverflowError:  # 9999-12-31T23:59:59-01:00
        return False


@dataclass(frozen=True, order=True)
class Period:
    year: int
    month: int

    def __post_init__(self) -> None:
        if not (1 <= self.month <= 12 and 1970 <= self.year <= 9998):
            raise ValueError(f"{self.year:04d}-{self.month:02d} is not a valid month")

    @classmethod
    def parse(cls, text: str) -> Period:
        match = _PERIOD_RE.match(text.strip()) if isinstance(text, str) else None
        if not match:
            raise ValueError(f"{text!r} is not a period like 2026-10 (YYYY-MM)")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def containing(cls, instant: datetime, tz: ZoneInfo) -> Period:
        local = instant.astimezone(tz)
        return cls(local.year, local.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Period:
        return Period(self.year + 1, 1) if self.month == 12 else Period(self.year, self.month + 1)

    def previous(self) -> Period:
        return Period(self.year - 1, 12) if self.month == 1 else Period(self.year, self.month - 1)

    def start(self, tz: ZoneInfo) -> datetime:
        """The first instant of the month in `tz`, as UTC."""
        return datetime(self.year, self.month, 1, tzinfo=tz).astimezone(UTC)

    def end(self, tz: ZoneInfo) -> datetime:
        return self.next().start(tz)

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        return self.start(tz), self.end(tz)


def micros_between(start: datetime, end: datetime) -> int:
    """Exact length of [start, end) in microseconds (never negative)."""
    return max(0, (end - start) // _ONE_MICROSECOND)


def fraction_remaining(at: datetime, start: datetime, end: datetime) -> Fraction:
    """seconds_remaining / period_seconds for an instant inside [start, end)."""
    total = micros_between(start, end)
    assert total > 0, "empty period"
    remaining = micros_between(max(at, start), end)
    return Fraction(min(remaining, total), total)


def prorate_micros(
    monthly_micros: int, held_from: datetime, held_to: datetime, start: datetime, end: datetime
) -> int:
    """A monthly price for the part of [start, end) covered by [held_from, held_to), exact
    seconds, rounded once to micro-units."""
    total = micros_between(start, end)
    held = micros_between(max(held_from, start), min(held_to, end))
    if held <= 0:
        return 0
    return round_div(monthly_micros * held, total)
