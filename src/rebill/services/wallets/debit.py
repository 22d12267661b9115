"""Debiting a credit wallet on its own (a charge paid from credits), safe under concurrency:
the wallet row is locked (PostgreSQL `FOR UPDATE`; SQLite has one writer at a time), the
debit takes what is there and never more, and the journal entry's idempotency key makes a
replayed request a no-op that reports the first result. Five statements and one commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rebill.domain.errors import FieldError, ValidationError
from rebill.domain.ledger import Accounts, Posting
from rebill.services.accounts.tenant import open_agency, require_sub_account
from rebill.services.ports import UnitOfWorkFactory


@dataclass(frozen=True)
class Debit:
    taken_micros: int
    balance_micros: int
    replayed: bool


def debit_wallet(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    sub_account_id: str,
    amount_micros: int,
    idempotency_key: str,
    now: datetime,
) -> Debit:
    if amount_micros <= 0:
        raise ValidationError([FieldError("amount", "must be positive", "amount")])
    key = f"debit:{sub_account_id}:{idempotency_key}"
    wallet = Accounts.wallet(sub_account_id)
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        found = tenant.wallets.balances([sub_account_id], for_update=True)
        if sub_account_id not in found:  # no wallet yet: does the sub-account exist?
            require_sub_account(tenant, sub_account_id)
        balance = found.get(sub_account_id, 0)
        if not tenant.ledger.claim(key, "charge paid from credits", now, agency.currency):
            return Debit(tenant.ledger.entry_amount(key, wallet) or 0, balance, True)
        taken = min(amount_micros, balance)
        tenant.wallets.set_balances({sub_account_id: balance - taken}, set(found))
        postings = [Posting(wallet, taken), Posting(Accounts.REVENUE_USAGE, -taken)]
        tenant.ledger.add_postings(key, agency.currency, postings)
        uow.commit()
    return Debit(taken, balance - taken, replayed=False)
