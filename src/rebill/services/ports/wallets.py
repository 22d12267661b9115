"""The bound agency's prepaid credit wallets (a cache of the ledger's wallet accounts, moved in
the same transaction as their postings)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class WalletRepository(Protocol):
    def balances(
        self, sub_account_ids: Iterable[str] | None = None, for_update: bool = False
    ) -> dict[str, int]:
        """Balances in micros by sub-account (of those given; locked with `for_update`). A
        sub-account without a wallet row is absent."""
        ...

    def set_balances(self, balances: dict[str, int], existing: set[str] | None = None) -> None:
        """Write balances read under lock (`existing`: the wallets that have a row)."""
        ...

    def add(self, sub_account_id: str, delta_micros: int) -> int:
        """Move a wallet by `delta_micros` (never below zero); the new balance."""
        ...

    def take(self, sub_account_id: str, amount_micros: int) -> tuple[int, int] | None:
        """Take up to `amount_micros` from the wallet, never more than it holds, in one locked
        step: (taken, balance after); None when the sub-account has no wallet."""
        ...
