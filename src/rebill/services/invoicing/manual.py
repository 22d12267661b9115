"""Money received outside the gateway (the manual gateway), in one transaction: an open invoice
paid by bank transfer or cash. Credits bought that way: `wallets.credits`."""

from __future__ import annotations

from datetime import datetime

from rebill.services.accounts.tenant import open_agency
from rebill.services.invoicing import billing
from rebill.services.ports import UnitOfWorkFactory


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
