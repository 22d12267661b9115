"""The clock and DNS, as far as the services need them."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class DomainResolver(Protocol):
    """DNS, as far as proving control of a domain needs it."""

    def txt_records(self, name: str) -> list[str]:
        """The TXT strings at `name` ([] when there are none or the name does not exist)."""
        ...
