"""Credits bought outside the payment gateway (an agency records a bank transfer or cash), as
one transaction over `invoicing.billing.add_credits`: the receipt and the wallet move together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rebill.services.invoicing.billing import add_credits
from rebill.services.ports import UnitOfWorkFactory


@dataclass(frozen=True)
class CreditPurchase:
    receipt: str  # the receipt's number
    balance_micros: int  # the wallet's balance after the purchase
    currency: str


def record_credit_purchase(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    sub_account_id: str,
    amount_text: str,
    now: datetime,
    reference: str | None = None,
) -> CreditPurchase:
    """Add `amount_text` of credits to the sub-account's wallet, with its receipt; a
    `reference` already recorded answers the first purchase instead of buying again."""
    with uow_factory() as uow:
        receipt, balance_micros = add_credits(
            uow.store, agency_id, sub_account_id, amount_text, now, reference
        )
        agency = uow.store.get_agency(agency_id)
        assert agency is not None, "add_credits has checked it"
        uow.commit()
    return CreditPurchase(receipt, balance_micros, agency.currency)
