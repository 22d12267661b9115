"""When a change of the platform's wholesale card reaches the agencies (issue 15).

A change is made at once (as before) or from a later period `P` ("YYYY-MM"): calls of every
agency's periods before `P` are rated, and those periods closed, on the card in force before;
calls of `P` and later on the new card, in each agency's own timezone. The periods are labels,
so "from 2027-01" means each agency's January, wherever it is.

- A period may be chosen only while it has not begun anywhere: its first instant in the
  timezone furthest ahead (UTC+14) is still to come. So no call already rated can fall in it.
- The card "in force now" (what the console shows, what an at-once change is compared with)
  is the platform's: the card of the current period in UTC.
- A change made at once replaces the card set at once and forgets the scheduled changes whose
  period has begun somewhere (they are superseded); changes scheduled for later stay.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from rebill.domain.period import Period

_UTC = ZoneInfo("UTC")
_EARLIEST = timedelta(hours=14)  # UTC+14 (Kiribati): where a period starts first
choices_max = 12  # periods offered by the console


def current_period(now: datetime) -> str:
    """The platform's current period: the month of `now` in UTC."""
    return str(Period.containing(now.astimezone(UTC), _UTC))


def has_started(period: str, now: datetime) -> bool:
    """Whether `period` has begun in some timezone (at UTC+14 first)."""
    return Period.parse(period).start(_UTC) - _EARLIEST <= now


def later_periods(now: datetime, count: int = choices_max) -> list[str]:
    """The next `count` periods that have begun nowhere yet, earliest first."""
    period = Period.containing(now.astimezone(UTC), _UTC)
    found: list[str] = []
    while len(found) < count:
        period = period.next()
        if not has_started(str(period), now):
            found.append(str(period))
    return found


def from_problem(period: str, now: datetime) -> str | None:
    """Why `period` cannot be a wholesale change's first period, or None."""
    try:
        Period.parse(period)
    except ValueError as exc:
        return str(exc)
    if has_started(period, now):
        first = later_periods(now, 1)[0]
        return (
            f"{period} has already begun in some timezone; a scheduled change starts with "
            f"a period that has not ({first} or later), or is made at once"
        )
    return None
