"""Backoff after repeated failures (sign-in attempts): the first few are free, each one after
them doubles the wait, up to a ceiling; a quiet spell as long as `forget_seconds` starts the
count over. Pure arithmetic on a count, the instant of the last failure and now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# 2**exponent_max times the first delay is far past any ceiling; it keeps the integers small.
exponent_max = 32
_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Backoff:
    failures_max: int  # failures in a row that cost no wait
    delay_seconds_first: int  # the wait after failure failures_max (then 2x, 4x, ...)
    delay_seconds_max: int
    forget_seconds: int  # this long after the last failure, the count starts over

    def __post_init__(self) -> None:
        assert self.failures_max >= 1
        assert 1 <= self.delay_seconds_first <= self.delay_seconds_max
        # A count must outlive its longest wait, or the ceiling would reset it.
        assert self.delay_seconds_max < self.forget_seconds

    def delay_seconds(self, failures: int) -> int:
        """The wait imposed by `failures` failures in a row (0 while they are free)."""
        if failures < self.failures_max:
            return 0
        exponent = min(failures - self.failures_max, exponent_max)
        return min(self.delay_seconds_first << exponent, self.delay_seconds_max)

    def current_failures(self, failures: int, last_failure_at: datetime, now: datetime) -> int:
        """The count as it stands now: 0 once the quiet spell has passed."""
        if now - last_failure_at >= timedelta(seconds=self.forget_seconds):
            return 0
        return failures

    def retry_after_seconds(self, failures: int, last_failure_at: datetime, now: datetime) -> int:
        """0 when another attempt may go ahead now; otherwise whole seconds to wait (rounded
        up, so that waiting that long always suffices)."""
        failures = self.current_failures(failures, last_failure_at, now)
        until = last_failure_at + timedelta(seconds=self.delay_seconds(failures))
        if until <= now:
            return 0
        return -((now - until) // _SECOND)
