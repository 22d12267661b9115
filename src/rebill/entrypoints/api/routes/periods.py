"""`/v1/periods/{period}`: a month of the agency's billing, open or closed, and closing it
(which issues its invoices). Not for sub-account keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from rebill.bootstrap import App
from rebill.entrypoints.api import schemas
from rebill.entrypoints.api.deps import (
    AgencyScope,
    Idempotency,
    Rebill,
    Tenant,
    refuse_sub_account,
    require,
)
from rebill.entrypoints.api.responses import parse_period
from rebill.services.invoicing.close import close_period
from rebill.services.views.periods import period_view

router = APIRouter(tags=["periods"])


def agency_period(rebill: App, tenant: AgencyScope, period: str) -> dict[str, Any]:
    """The period's state and, once closed, its close document (403 for sub-account keys)."""
    agency_id = tenant.agency_id()
    label = parse_period(period)
    refuse_sub_account(tenant.caller, "sub-account keys cannot read the agency's periods")
    return period_view(rebill.uow, agency_id, label)


@router.post("/v1/periods/{period}/close", response_model=schemas.PeriodOut)
async def post_close(
    period: str, idempotency: Idempotency, tenant: Tenant, rebill: Rebill
) -> Response:
    def run() -> tuple[int, Any]:
        agency_id = tenant.agency_id()
        require(tenant.caller, "billing")
        label = parse_period(period)
        (document,) = close_period(
            rebill.uow, label, [agency_id], rebill.clock.now(), rebill.gateway
        )
        return 200, {
            "id": str(label),
            "agency": agency_id,
            "status": "closed",
            "document": document,
        }

    return await idempotency.respond(run)


@router.get("/v1/periods/{period}", response_model=schemas.PeriodOut)
def get_period(period: str, tenant: Tenant, rebill: Rebill) -> dict[str, Any]:
    return agency_period(rebill, tenant, period)
