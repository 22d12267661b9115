"""Credits bought outside the payment gateway (an agency records a bank transfer or cash), as
one transaction over `invoicing.billing.sell_credits`: the receipt and the wallet move
together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rebill.domain.errors import FieldError, ValidationError
from rebill.domain.text import text_problem
from rebill.services.accounts.tenant import open_agency
from rebill.services.invoicing.billing import sell_credits
from rebill.services.ports import UnitOfWorkFactory
from rebill.services.races import rerun_on_race

# A payment reference as a bank or a gateway writes one (the API's limit, for every caller).
reference_length_max = 200


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
    `reference` already recorded answers the first purchase instead of buying again (also
    when the same reference is bought twice at once: the second runs again and finds it)."""
    if reference is not None:
        problem = text_problem(reference)
        if len(reference) > reference_length_max:
            problem = f"is longer than {reference_length_max} characters"
        if problem:
            error = FieldError("reference", problem, "reference")
            raise ValidationError([error], "invalid purchase")
    return rerun_on_race(
        lambda: _purchase(uow_factory, agency_id, sub_account_id, amount_text, now, reference)
    )


def _purchase(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    sub_account_id: str,
    amount_text: str,
    now: datetime,
    reference: str | None,
) -> CreditPurchase:
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        receipt, balance_micros = sell_credits(
            tenant, agency, sub_account_id, amount_text, now, reference
        )
        uow.commit()
    return CreditPurchase(receipt, balance_micros, agency.currency)
