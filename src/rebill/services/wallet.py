"""Debiting a credit wallet on its own (a charge paid from credits), safe under concurrency:
the wallet row is locked (PostgreSQL `FOR UPDATE`; SQLite has one writer at a time), the
debit takes what is there and never more, and the journal entry's idempotency key makes a
replayed request a no-op that reports the first result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rebill.domain.errors import FieldError, NotFoundError, ValidationError
from rebill.domain.ledger import Accounts, JournalEntry
from rebill.services.ports import UnitOfWork


@dataclass(frozen=True)
class Debit:
    taken_micros: int
    balance_micros: int
    replayed: bool


def debit_wallet(
    uow: UnitOfWork,
    agency_id: str,
    sub_account_id: str,
    amount_micros: int,
    idempotency_key: str,
    now: datetime,
) -> Debit:
    if amount_micros <= 0:
        raise ValidationError([FieldError("amount", "must be positive", "amount")])
    key = f"debit:{sub_account_id}:{idempotency_key}"
    with uow:
        store = uow.store
        agency = store.get_agency(agency_id)
        if agency is None or store.get_sub_account(agency_id, sub_account_id) is None:
            raise NotFoundError(
                f"sub-account {sub_account_id!r} of agency {agency_id!r} does not exist"
            )
        balance = store.wallet_balances(agency_id, [sub_account_id], for_update=True).get(
            sub_account_id, 0
        )
        taken = store.entry_amount(agency_id, key, Accounts.wallet(sub_account_id))
        if taken is not None:
            return Debit(taken, balance, replayed=True)
        taken = min(amount_micros, balance)
        store.set_wallet_balances(agency_id, {sub_account_id: balance - taken})
        store.post_entry(
            JournalEntry.of(
                agency_id,
                key,
                "charge paid from credits",
                now,
                agency.currency,
                [(Accounts.wallet(sub_account_id), taken), (Accounts.REVENUE_USAGE, -taken)],
            )
        )
        uow.commit()
    return Debit(taken, balance - taken, replayed=False)
