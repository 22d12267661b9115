"""`/v1/invoices`: invoices, receipts and credit notes; charging an open invoice to the saved
card and refunding a paid one. A sub-account key sees its own only."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from rebill.bootstrap import App
from rebill.domain.access import Principal
from rebill.domain.errors import NotFoundError
from rebill.entrypoints.api import errors, schemas
from rebill.entrypoints.api.deps import (
    Idempotency,
    Paging,
    Rebill,
    Tenant,
    refuse_sub_account,
    require,
)
from rebill.entrypoints.api.responses import GATEWAY_PROBLEMS, parse_period
from rebill.services.payments.collect import charge_invoice, refund_invoice
from rebill.services.views import reports

router = APIRouter(tags=["invoices"])
Number = Annotated[str, Path(max_length=40)]
PAYMENT_FAILED = {
    "model": schemas.Problem,
    "content": {errors.PROBLEM: {}},
    "description": "payment_failed: declined or authentication needed; still open",
}


async def period_filter(
    period: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
) -> str | None:
    return period


# A dependency (after the tenant's `agency`), so the document lists `period` after it.
PeriodFilter = Annotated[str | None, Depends(period_filter)]


def visible_invoice(rebill: App, caller: Principal, agency_id: str, number: str) -> dict[str, Any]:
    """A sub-account key sees its own invoices only (404 for any other)."""
    for document in reports.list_invoices(rebill.uow, agency_id, None):
        if document["number"] == number and (
            caller.kind != "sub_account" or document["sub_account"] == caller.sub_account_id
        ):
            return document
    raise NotFoundError(f"invoice {number!r} does not exist")


@router.get("/v1/invoices", response_model=schemas.InvoiceList)
def list_invoices(
    tenant: Tenant, period: PeriodFilter, paging: Paging, rebill: Rebill
) -> dict[str, Any]:
    caller = tenant.caller
    agency_id = tenant.agency_id()
    label = parse_period(period) if period else None
    documents = [
        {"id": d["number"], **d}
        for d in reports.list_invoices(rebill.uow, agency_id, label)
        if caller.kind != "sub_account" or d["sub_account"] == caller.sub_account_id
    ]
    if caller.kind == "agency":  # the platform's invoice to the agency is the agency's
        documents = [d for d in documents if d["agency"] == agency_id]
    return paging.of(documents)


@router.get("/v1/invoices/{number}", response_model=schemas.Invoice)
def get_invoice(number: str, tenant: Tenant, rebill: Rebill) -> dict[str, Any]:
    return {"id": number, **visible_invoice(rebill, tenant.caller, tenant.agency_id(), number)}


@router.post(
    "/v1/invoices/{number}/charge",
    response_model=schemas.InvoiceCharge,
    responses={402: PAYMENT_FAILED, **GATEWAY_PROBLEMS},
)
async def post_charge(
    number: Number, idempotency: Idempotency, tenant: Tenant, rebill: Rebill
) -> Response:
    """Charge an open invoice to its payer's saved card, off session (402 when the card
    is declined or needs authentication: the invoice stays open)."""

    def run() -> tuple[int, Any]:
        agency_id = tenant.agency_id()
        require(tenant.caller, "billing")
        visible_invoice(rebill, tenant.caller, agency_id, number)
        document = charge_invoice(rebill.uow, rebill.gateway, agency_id, number, rebill.clock.now())
        if document["status"] in ("paid", "processing"):
            return 200, document
        last = document["attempts"][-1]
        failed = errors.problem(
            402,
            "payment_failed",
            f"{number} stays open: {last['message'] or last['code']}",
            None,
            [last],
        )
        return 402, json.loads(bytes(failed.body))

    return await idempotency.respond(run)


@router.post(
    "/v1/invoices/{number}/refund",
    response_model=schemas.Refund,
    status_code=201,
    responses={**GATEWAY_PROBLEMS},
)
async def post_refund(
    number: Number, body: schemas.RefundIn, idempotency: Idempotency, tenant: Tenant, rebill: Rebill
) -> Response:
    """Refund a paid invoice or receipt and issue its credit note."""

    def run() -> tuple[int, Any]:
        agency_id = tenant.agency_id()
        require(tenant.caller, "billing")
        refuse_sub_account(tenant.caller, "refunds are the agency's to give")
        visible_invoice(rebill, tenant.caller, agency_id, number)
        document = refund_invoice(
            rebill.uow, rebill.gateway, agency_id, number, body.amount, rebill.clock.now()
        )
        return 201, document

    return await idempotency.respond(run)
