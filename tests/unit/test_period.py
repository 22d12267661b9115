"""Periods in the agency's timezone and second-exact proration (BILLING_MODEL §3, §6)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from rebill.domain.charges import prorated
from rebill.domain.period import Period, micros_between, prorate_micros

NY = ZoneInfo("America/New_York")
UTC_TZ = ZoneInfo("UTC")

LENGTH_CASES = [
    # period, tz, seconds
    ("2026-10", UTC_TZ, 31 * 86_400),
    ("2026-09", UTC_TZ, 30 * 86_400),
    ("2026-02", UTC_TZ, 28 * 86_400),
    ("2028-02", UTC_TZ, 29 * 86_400),
    ("2026-10", NY, 31 * 86_400),  # both ends in EDT
    ("2026-11", NY, 30 * 86_400 + 3_600),  # DST ends 2026-11-01: one hour longer
    ("2026-03", NY, 31 * 86_400 - 3_600),  # DST starts 2026-03-08: one hour shorter
]


@pytest.mark.parametrize(("label", "tz", "seconds"), LENGTH_CASES)
def test_period_length(label: str, tz: ZoneInfo, seconds: int) -> None:
    start, end = Period.parse(label).bounds(tz)
    assert micros_between(start, end) == seconds * 1_000_000


def test_period_bounds_in_agency_timezone() -> None:
    start, end = Period.parse("2026-10").bounds(NY)
    assert start == datetime(2026, 10, 1, 4, tzinfo=UTC)
    assert end == datetime(2026, 11, 1, 4, tzinfo=UTC)


PRORATION_CASES = [
    # monthly micros, instant (ISO), tz, expected micros
    # 31-day month: 16 days left of 31 → 3.00 × 1,382,400 / 2,678,400 = 1.548387
    (3_000_000, "2026-10-16T00:00:00-04:00", NY, 1_548_387),
    # 30-day month: 15 of 30 days → exactly half
    (49_000_000, "2026-09-16T00:00:00+00:00", UTC_TZ, 24_500_000),
    # 28-day month: 7 of 28 days → a quarter
    (10_000_000, "2026-02-22T00:00:00+00:00", UTC_TZ, 2_500_000),
    # DST month: from 2026-11-16 (EST) to 12-01 is 15 days of 30 days + 1 h
    # 49 × 1,296,000 / 2,595,600 = 24.4660194…
    (49_000_000, "2026-11-16T00:00:00-05:00", NY, 24_466_019),
    # at the first instant: the whole price
    (3_000_000, "2026-10-01T00:00:00-04:00", NY, 3_000_000),
]


@pytest.mark.parametrize(("monthly", "at", "tz", "micros"), PRORATION_CASES)
def test_proration(monthly: int, at: str, tz: ZoneInfo, micros: int) -> None:
    assert prorated(monthly, datetime.fromisoformat(at), tz) == micros


def test_number_held_part_of_period() -> None:
    start, end = Period.parse("2026-10").bounds(NY)
    rented = datetime.fromisoformat("2026-10-16T00:00:00-04:00")
    # Wholesale 1.15 for 16 of 31 days = 0.5935483… → 0.593548 (BILLING_MODEL §12)
    assert (
        prorate_micros(1_150_000, rented, datetime.max.replace(tzinfo=UTC), start, end) == 593_548
    )
    released = datetime.fromisoformat("2026-10-21T00:00:00-04:00")
    # 5 of 31 days: 1.15 × 432,000 / 2,678,400 = 0.185483… → 0.185484
    assert prorate_micros(1_150_000, rented, released, start, end) == 185_484


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "26-10", "2026/10", ""])
def test_bad_periods(text: str) -> None:
    with pytest.raises(ValueError, match=r"period|month"):
        Period.parse(text)
