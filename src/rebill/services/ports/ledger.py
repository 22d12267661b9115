"""The bound agency's journal: balanced, append-only entries with idempotency keys, and the
balances derived from their postings; and the platform's check across every agency."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from rebill.domain.ledger import JournalEntry, Posting


@dataclass(frozen=True)
class EntryRef:
    """Which journal entry: an agency's, by its idempotency key."""

    agency_id: str
    idempotency_key: str


class LedgerRepository(Protocol):
    def has_entry(self, key: str) -> bool: ...

    def post(self, entry: JournalEntry) -> bool:
        """Append a balanced entry once; False if its key was posted already."""
        ...

    def post_many(self, entries: Sequence[JournalEntry]) -> None:
        """Append new balanced entries (their keys must be new)."""
        ...

    def claim(self, key: str, description: str, occurred_at: datetime, currency: str) -> bool:
        """Insert an entry's header unless its key exists, in one statement; False when it
        exists (a replay). Its postings follow with `add_postings`."""
        ...

    def add_postings(self, key: str, currency: str, postings: Sequence[Posting]) -> None: ...

    def entry_amount(self, key: str, account: str) -> int | None:
        """What a posted entry moved on `account`; None when the entry is not posted."""
        ...

    def balance_micros(self, account: str) -> int:
        """Debit-positive balance of one account, derived from its postings."""
        ...

    def balances(self, prefix: str) -> dict[str, int]:
        """Balances of the accounts whose name starts with `prefix`."""
        ...


class LedgerCheck(Protocol):
    """Across every agency (the platform's integrity check)."""

    def unbalanced_entries(self) -> list[EntryRef]: ...
