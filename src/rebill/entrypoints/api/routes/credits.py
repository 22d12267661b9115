"""`/v1/sub_accounts/{id}/credits`: a client's prepaid credits, and credits bought outside
the payment gateway (recorded with a receipt by `billing` and `admin` keys)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from rebill.domain.money import format_micros_as_minor
from rebill.entrypoints.api import schemas
from rebill.entrypoints.api.deps import Idempotency, Rebill, Tenant, require, visible_sub
from rebill.entrypoints.api.routes.sub_accounts import visible_sub_account
from rebill.services.wallets.credits import record_credit_purchase

router = APIRouter(tags=["credits"])


@router.get("/v1/sub_accounts/{sub_id}/credits", response_model=schemas.Credits)
def get_credits(sub_id: str, tenant: Tenant, rebill: Rebill) -> dict[str, Any]:
    document = visible_sub_account(rebill, tenant, sub_id)
    return {
        "id": sub_id,
        "sub_account": sub_id,
        "currency": document["currency"],
        "balance": document["credits"],
    }


@router.post(
    "/v1/sub_accounts/{sub_id}/credits", response_model=schemas.CreditPurchase, status_code=201
)
async def post_credits(
    sub_id: str, body: schemas.CreditsIn, idempotency: Idempotency, tenant: Tenant, rebill: Rebill
) -> Response:
    def run() -> tuple[int, Any]:
        agency_id = tenant.agency_id()
        visible_sub(tenant.caller, agency_id, sub_id)
        require(tenant.caller, "billing")
        key = idempotency.key
        purchase = record_credit_purchase(
            rebill.uow,
            agency_id,
            sub_id,
            body.amount,
            rebill.clock.now(),
            body.reference or (f"{tenant.caller.key_id}:{key}" if key else None),
        )
        return 201, {
            "id": purchase.receipt,
            "receipt": purchase.receipt,
            "sub_account": sub_id,
            "currency": purchase.currency,
            "balance": format_micros_as_minor(purchase.balance_micros, purchase.currency),
        }

    return await idempotency.respond(run)
