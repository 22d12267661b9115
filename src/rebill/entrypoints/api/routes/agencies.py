"""`/v1/agencies`: the agencies a key sees (a platform key every one, another key its own)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from rebill.domain.access import Principal
from rebill.domain.errors import NotFoundError
from rebill.entrypoints.api import schemas
from rebill.entrypoints.api.deps import Caller, Paging, Rebill
from rebill.services.views import queries

router = APIRouter(tags=["agencies"])


def seen_by(caller: Principal, agency: dict[str, Any]) -> dict[str, Any]:
    """The agency's terms with the platform (its credit limit) are not its clients' to see."""
    return {**agency, "credit_limit": None} if caller.kind == "sub_account" else agency


@router.get("/v1/agencies", response_model=schemas.AgencyList)
def list_agencies(caller: Caller, paging: Paging, rebill: Rebill) -> dict[str, Any]:
    ids = None if caller.kind == "platform" else [caller.agency_id or ""]
    documents = [seen_by(caller, d) for d in queries.agency_documents(rebill.uow, ids)]
    return paging.of(documents)


@router.get("/v1/agencies/{agency_id}", response_model=schemas.Agency)
def get_agency(agency_id: str, caller: Caller, rebill: Rebill) -> dict[str, Any]:
    if not caller.sees_agency(agency_id):
        raise NotFoundError(f"agency {agency_id!r} does not exist")
    found = queries.agency_documents(rebill.uow, [agency_id])
    if not found:
        raise NotFoundError(f"agency {agency_id!r} does not exist")
    return seen_by(caller, found[0])
