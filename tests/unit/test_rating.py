"""Rating cases (BILLING_MODEL §4): increments, zero-second calls, connect fees, rounding."""

from __future__ import annotations

import pytest

from rebill.domain.rating import Increment, VoiceRate

INCREMENT_CASES = [
    # increment, duration s, billable s
    ("1/1", 0, 0),
    ("1/1", 1, 1),
    ("1/1", 125, 125),
    ("6/6", 5, 6),
    ("6/6", 6, 6),
    ("6/6", 8, 12),
    ("6/6", 13, 18),
    ("30/6", 10, 30),
    ("30/6", 30, 30),
    ("30/6", 31, 36),
    ("30/6", 36, 36),
    ("30/6", 37, 42),
    ("60/6", 1, 60),
    ("60/6", 60, 60),
    ("60/6", 61, 66),
    ("60/6", 125, 126),
    ("60/6", 12_000, 12_000),
    ("60/10", 83, 90),
    ("60/10", 60, 60),
    ("60/10", 61, 70),
    ("60/60", 59, 60),
    ("60/60", 61, 120),
    ("60/60", 120, 120),
    ("60/60", 121, 180),
    ("60/6", 0, 0),
    ("60/60", 0, 0),
]


@pytest.mark.parametrize(("increment", "duration", "billable"), INCREMENT_CASES)
def test_billable_seconds(increment: str, duration: int, billable: int) -> None:
    assert Increment.parse(increment).billable_seconds(duration) == billable


COST_CASES = [
    # per-minute micros, increment, connect fee micros, duration, expected micros
    (80_000, "1/1", 0, 125, 166_667),  # 125 × 0.08 / 60 = 0.1666… → 0.166667
    (200_000, "60/6", 0, 125, 420_000),  # 126 × 0.20 / 60
    (90_000, "1/1", 0, 12_000, 18_000_000),
    (70_000, "1/1", 0, 125, 145_833),  # 0.1458333… → 0.145833
    (250_000, "60/6", 0, 0, 0),  # unanswered: nothing, not even the connect fee
    (250_000, "60/6", 15_000, 0, 0),
    (250_000, "60/6", 15_000, 30, 265_000),  # 60 s → 0.25 + 0.015 connect fee
    (100_000, "1/1", 10_000, 1, 11_667),  # 0.0016666… → 0.001667, + 0.01
    (1, "1/1", 0, 30, 1),  # 30 × 0.000001 / 60 = 0.0000005 → half up → 0.000001
    (1, "1/1", 0, 29, 0),
]


@pytest.mark.parametrize(("rate", "increment", "fee", "duration", "micros"), COST_CASES)
def test_call_cost(rate: int, increment: str, fee: int, duration: int, micros: int) -> None:
    voice = VoiceRate(rate, Increment.parse(increment), fee)
    billable = voice.increment.billable_seconds(duration)
    assert voice.cost_micros(billable) == micros


@pytest.mark.parametrize("text", ["0/6", "6/0", "60", "a/b", "-1/6", "60/6/1", "", "3601/1"])
def test_bad_increments_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"increment|first_seconds|step_seconds"):
        Increment.parse(text)
