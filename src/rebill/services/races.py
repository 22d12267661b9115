"""Work that may lose a race to a concurrent transaction: the unit of work rolls it back whole
and raises `ConcurrentWriteError`; running it again finds the other's rows (a twin call is then
a duplicate, a purchase reference answers the first receipt)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from rebill.domain.errors import ConcurrentWriteError

# Tried this many times in all before the error reaches the caller (HTTP 503, Retry-After).
attempts_max = 4

T = TypeVar("T")


def rerun_on_race(work: Callable[[], T]) -> T:
    for attempt in range(1, attempts_max + 1):
        try:
            return work()
        except ConcurrentWriteError:
            if attempt == attempts_max:
                raise
    raise AssertionError("unreachable")
