"""`/v1/plans`: the agency's plans and their retail prices."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from rebill.domain.errors import NotFoundError
from rebill.entrypoints.api import schemas
from rebill.entrypoints.api.deps import Paging, Rebill, Tenant
from rebill.services.views import queries

router = APIRouter(tags=["plans"])


@router.get("/v1/plans", response_model=schemas.PlanList)
def list_plans(tenant: Tenant, paging: Paging, rebill: Rebill) -> dict[str, Any]:
    agency_id = tenant.agency_id()
    return paging.of(queries.plan_documents(rebill.uow, agency_id))


@router.get("/v1/plans/{plan_id}", response_model=schemas.Plan)
def get_plan(plan_id: str, tenant: Tenant, rebill: Rebill) -> dict[str, Any]:
    agency_id = tenant.agency_id()
    for plan in queries.plan_documents(rebill.uow, agency_id):
        if plan["id"] == plan_id:
            return plan
    raise NotFoundError(f"plan {plan_id!r} does not exist")
