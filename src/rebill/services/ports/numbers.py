"""The phone numbers the bound agency's sub-accounts hold (and held)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from rebill.domain.charges import HeldNumber


class NumberRepository(Protocol):
    def all(self) -> dict[str, list[HeldNumber]]:
        """Every number by sub-account, in the order they were rented."""
        ...

    def of(self, sub_account_id: str) -> list[HeldNumber]: ...

    def holder(self, e164: str) -> str | None:
        """The sub-account holding `e164` now (not released)."""
        ...

    def add(self, sub_account_id: str, number: HeldNumber) -> None: ...

    def release(self, number: HeldNumber, at: datetime) -> None: ...
