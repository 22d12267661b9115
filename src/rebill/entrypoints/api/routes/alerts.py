"""`/v1/alerts`: the caps alerts that fired (a sub-account key sees its own)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from rebill.entrypoints.api import schemas
from rebill.entrypoints.api.deps import Paging, Rebill, Tenant
from rebill.services.views import queries

router = APIRouter(tags=["alerts"])


@router.get("/v1/alerts", response_model=schemas.AlertList)
def list_alerts(tenant: Tenant, paging: Paging, rebill: Rebill) -> dict[str, Any]:
    agency_id = tenant.agency_id()
    documents = queries.alert_documents(rebill.uow, agency_id, tenant.caller.sub_account_id)
    return paging.of(documents)
