"""The double-entry ledger (BILLING_MODEL §11): balanced, append-only journal entries of
integer micro-unit postings, each with an idempotency key. Debits are positive, credits
negative; an entry's postings sum to zero per currency.

Accounts are named paths; each belongs to one agency (the platform's accounts facing an agency
are kept under that agency so the ledger can be distributed by agency).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Posting:
    account: str
    amount_micros: int  # debit > 0, credit < 0

    def __post_init__(self) -> None:
        if type(self.amount_micros) is not int:
            raise TypeError("postings hold integer micro-units")


@dataclass(frozen=True)
class JournalEntry:
    agency_id: str
    idempotency_key: str
    description: str
    occurred_at: datetime
    currency: str
    postings: tuple[Posting, ...]

    def __post_init__(self) -> None:
        if sum(p.amount_micros for p in self.postings) != 0:
            raise ValueError(f"journal entry {self.idempotency_key} does not balance")
        assert self.idempotency_key, "a journal entry needs an idempotency key"

    @classmethod
    def of(
        cls,
        agency_id: str,
        key: str,
        description: str,
        occurred_at: datetime,
        currency: str,
        lines: list[tuple[str, int]],
    ) -> JournalEntry:
        """Build from (account, signed micros) pairs, dropping zero postings."""
        postings = tuple(Posting(a, m) for a, m in lines if m != 0)
        return cls(agency_id, key, description, occurred_at, currency, postings)


class Accounts:
    """Account names. Liabilities (wallets, payables) carry credit balances."""

    @staticmethod
    def wallet(sub_account_id: str) -> str:
        return f"liability:wallet:{sub_account_id}"

    @staticmethod
    def receivable(sub_account_id: str) -> str:
        return f"asset:receivable:{sub_account_id}"

    REVENUE_USAGE = "revenue:usage"
    REVENUE_RECURRING = "revenue:recurring"
    REVENUE_REFUNDS = "revenue:refunds"  # contra revenue: what credit notes gave back
    TAX_PAYABLE = "liability:tax_payable"
    WHOLESALE_COST = "expense:wholesale"
    WHOLESALE_PAYABLE = "liability:wholesale_payable"
    PLATFORM_RECEIVABLE = "platform:asset:receivable"
    PLATFORM_REVENUE = "platform:revenue:wholesale"

    @staticmethod
    def gateway_clearing(provider: str) -> str:
        return f"asset:gateway_clearing:{provider}"
