"""Money received outside the gateway (the manual gateway), each in one transaction: an open
invoice paid by bank transfer or cash, and credits bought that way."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rebill.services.accounts.tenant import open_agency
from rebill.services.invoicing import billing
from rebill.services.ports import UnitOfWorkFactory
from rebill.services.wallets.credits import record_credit_purchase


@dataclass(frozen=True)
class CreditReceipt:
    """A credit purchase as recorded: its receipt and the wallet's balance after it."""

    number: str
    balance_micros: int
    currency: str


def pay_invoice(
    uow_factory: UnitOfWorkFactory, agency_id: str, number: str, reference: str, now: datetime
) -> str:
    """Record that an open invoice was paid (`billing.mark_paid`). Returns its status before:
    "open", or "paid" when it was paid already (nothing is recorded twice)."""
    with uow_factory() as uow:
        _, tenant = open_agency(uow, agency_id)
        previous = billing.mark_paid(tenant, number, reference, now)
        uow.commit()
    return previous


def purchase_credits(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    sub_account_id: str,
    amount_text: str,
    now: datetime,
    reference: str | None = None,
) -> CreditReceipt:
    """Record credits bought outside the gateway (`wallets.credits.record_credit_purchase`,
    the API's and the panel's too); the same `reference` is recorded once."""
    bought = record_credit_purchase(
        uow_factory, agency_id, sub_account_id, amount_text, now, reference
    )
    return CreditReceipt(bought.receipt, bought.balance_micros, bought.currency)
