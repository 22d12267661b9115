"""Clocks: the system's, and a fixed one (`REBILL_NOW`) for reproducible runs and tests."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    def __init__(self, instant: datetime) -> None:
        assert instant.tzinfo is not None
        self.instant = instant

    def now(self) -> datetime:
        return self.instant
