"""Debiting a credit wallet on its own (a charge paid from credits), safe under concurrency:
the journal entry's idempotency key is claimed first (a replayed request is then a no-op that
reports the first result), then the wallet is locked, read and moved in one statement
(PostgreSQL; SQLite has one writer at a time) that takes what is there and never more. Four
statements and one commit."""

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
        # The key first: a replay (or a twin waiting on the key until the first commits) then
        # touches no wallet; a first request locks its wallet only from the take to the commit.
        if not tenant.ledger.claim(key, "charge paid from credits", now, agency.currency):
            balance = tenant.wallets.balances([sub_account_id]).get(sub_account_id)
            if balance is None:
                require_sub_account(tenant, sub_account_id)
            return Debit(tenant.ledger.entry_amount(key, wallet) or 0, balance or 0, True)
        moved = tenant.wallets.take(sub_account_id, amount_micros)
        if moved is None:  # no wallet yet: does the sub-account exist? (else all rolls back)
            require_sub_account(tenant, sub_account_id)
            tenant.wallets.set_balances({sub_account_id: 0}, set())
            moved = (0, 0)
        taken, balance = moved
        postings = [Posting(wallet, taken), Posting(Accounts.REVENUE_USAGE, -taken)]
        tenant.ledger.add_postings(key, agency.currency, postings)
        uow.commit()
    return Debit(taken, balance, replayed=False)
