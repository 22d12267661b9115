"""Billing increments and the cost of a call on one side (retail or wholesale).

`billable_seconds` applies an increment `a/b` (first interval a seconds, then steps of b);
`cost_micros` prices billable seconds at a per-minute rate plus an optional connect fee and
rounds once, to micro-units (BILLING_MODEL §4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rebill.domain.money import round_div

DIRECTIONS = ("outbound", "inbound")
increment_seconds_max = 3_600
_INCREMENT_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$", re.ASCII)


@dataclass(frozen=True)
class Increment:
    first_seconds: int
    step_seconds: int

    def __post_init__(self) -> None:
        for name in ("first_seconds", "step_seconds"):
            value = getattr(self, name)
            if type(value) is not int or not 0 < value <= increment_seconds_max:
                raise ValueError(f"{name} must be a whole number from 1 to {increment_seconds_max}")

    @classmethod
    def parse(cls, text: str) -> Increment:
        match = _INCREMENT_RE.match(text) if isinstance(text, str) else None
        if not match:
            raise ValueError(f'{text!r} is not an increment like "60/6"')
        first, step = int(match.group(1)), int(match.group(2))
        if first == 0 or step == 0:
            raise ValueError(f"increment {text!r}: both parts must be at least 1 second")
        return cls(first, step)

    def __str__(self) -> str:
        return f"{self.first_seconds}/{self.step_seconds}"

    def billable_seconds(self, duration_seconds: int) -> int:
        """0 for 0; `a` up to `a`; then `a` plus whole steps of `b` (integer ceiling division)."""
        if duration_seconds <= 0:
            return 0
        first = self.first_seconds
        if duration_seconds <= first:
            return first
        step = self.step_seconds
        return first + -(-(duration_seconds - first) // step) * step


@dataclass(frozen=True)
class VoiceRate:
    """A per-minute price on one side for one direction. `per_minute_decimals` keeps how the
    price was written ("0.090") so documents show it the same way."""

    per_minute_micros: int
    increment: Increment
    connect_fee_micros: int = 0
    per_minute_decimals: int = 2

    def cost_micros(self, billable_seconds: int) -> int:
        """Exact cost rounded once to micro-units; a call with no billable time costs nothing."""
        if billable_seconds <= 0:
            return 0
        return round_div(billable_seconds * self.per_minute_micros, 60) + self.connect_fee_micros


@dataclass(frozen=True)
class CallRating:
    """One call rated on one side: billable seconds and cost in micros."""

    billable_seconds: int
    cost_micros: int


def rate_call(duration_seconds: int, rate: VoiceRate) -> CallRating:
    billable = rate.increment.billable_seconds(duration_seconds)
    return CallRating(billable, rate.cost_micros(billable))
