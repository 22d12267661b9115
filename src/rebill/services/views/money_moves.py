"""Actions that move money from the panel (charging an open invoice to the client's saved
card, refunding a paid one) ask first and are written to the audit log: what the confirmation
page says, and the audit entry once the gateway answered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rebill.domain.errors import FieldError, NotFoundError, ValidationError
from rebill.domain.money import to_micros
from rebill.services.accounts.tenant import open_agency
from rebill.services.ports import AuditEntry, UnitOfWorkFactory
from rebill.services.views.forms import plain_number
from rebill.services.views.reports import invoice_document

ACTIONS = ("charge", "refund")


def confirmation(
    uow_factory: UnitOfWorkFactory, agency_id: str, number: str, action: str, amount: str
) -> dict[str, Any]:
    """What the agency is about to do, in words: the invoice, the client, the amount (a
    refund's `amount` blank: all of it). A refund amount that is not an amount is refused here,
    before anything is asked."""
    assert action in ACTIONS
    with uow_factory() as uow:
        _, tenant = open_agency(uow, agency_id)
        found = tenant.invoices.find(number=number)
        subs = tenant.sub_accounts.all()
    if not found:
        raise NotFoundError(f"invoice {number!r} does not exist")
    document = invoice_document(found[0])
    sub = subs.get(document["sub_account"] or "")
    given = plain_number(amount, document["currency"])
    if given:
        try:
            if to_micros(given) <= 0:
                raise ValueError(f"{given} is not more than 0")
        except (TypeError, ValueError) as exc:
            raise ValidationError([FieldError("amount", str(exc), "amount")]) from None
    return {
        "action": action,
        "number": number,
        "client": sub.name if sub else "your agency",
        "currency": document["currency"],
        "total": document["total"],
        "status": document["status"],
        "amount": given or document["total"],
        "amount_given": given,
    }


def record(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    number: str,
    action: str,
    outcome: str,
    actor: str,
    now: datetime,
) -> None:
    """The audit entry of a confirmed charge or refund and how it ended."""
    with uow_factory() as uow:
        _, tenant = open_agency(uow, agency_id)
        tenant.audit.add(AuditEntry(now, actor, f"invoice {number}", action, "asked", outcome))
        uow.commit()
