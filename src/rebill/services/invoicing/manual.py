"""Money received outside the gateway (the manual gateway), each in one transaction: an open
invoice paid by bank transfer or cash, and credits bought that way."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rebill.domain.errors import NotFoundError
from rebill.services.invoicing import billing
from rebill.services.ports import UnitOfWorkFactory


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
        previous = billing.mark_paid(uow.store, agency_id, number, reference, now)
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
    """Record credits bought outside the gateway (`billing.add_credits`); the same
    `reference` is recorded once."""
    with uow_factory() as uow:
        number, balance_micros = billing.add_credits(
            uow.store, agency_id, sub_account_id, amount_text, now, reference
        )
        agency = uow.store.get_agency(agency_id)
        if agency is None:  # add_credits found it in this transaction
            raise NotFoundError(f"agency {agency_id!r} does not exist")
        uow.commit()
    return CreditReceipt(number, balance_micros, agency.currency)
