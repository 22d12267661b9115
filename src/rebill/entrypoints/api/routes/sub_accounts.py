"""`/v1/sub_accounts`: the agency's clients, their caps, automatic top-ups and state. A
sub-account key sees its own only; any other answers 404."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from rebill.bootstrap import App
from rebill.domain.errors import NotFoundError
from rebill.entrypoints.api import schemas
from rebill.entrypoints.api.deps import (
    AgencyScope,
    Idempotency,
    Paging,
    Rebill,
    Tenant,
    catalog_caller,
    key_actor,
    require,
    visible_sub,
)
from rebill.services.accounts.sub_accounts import (
    set_auto_top_up,
    set_caps,
    set_state,
    set_tax_identity,
)
from rebill.services.views import queries

router = APIRouter(tags=["sub-accounts"])


def visible_sub_account(rebill: App, tenant: AgencyScope, sub_id: str) -> dict[str, Any]:
    """The sub-account's document, if the caller may see it (404 otherwise)."""
    agency_id = tenant.agency_id()
    visible_sub(tenant.caller, agency_id, sub_id)
    found = queries.sub_account_documents(rebill.uow, agency_id, sub_id, rebill.clock.now())
    if not found:
        raise NotFoundError(f"sub-account {sub_id!r} does not exist")
    return found[0]


def _document(rebill: App, agency_id: str, sub_id: str) -> dict[str, Any]:
    return queries.sub_account_documents(rebill.uow, agency_id, sub_id, rebill.clock.now())[0]


@router.get("/v1/sub_accounts", response_model=schemas.SubAccountList)
def list_sub_accounts(tenant: Tenant, paging: Paging, rebill: Rebill) -> dict[str, Any]:
    agency_id = tenant.agency_id()
    documents = queries.sub_account_documents(
        rebill.uow, agency_id, tenant.caller.sub_account_id, rebill.clock.now()
    )
    return paging.of(documents)


@router.get("/v1/sub_accounts/{sub_id}", response_model=schemas.SubAccount)
def get_sub_account(sub_id: str, tenant: Tenant, rebill: Rebill) -> dict[str, Any]:
    return visible_sub_account(rebill, tenant, sub_id)


@router.post("/v1/sub_accounts/{sub_id}/caps", response_model=schemas.SubAccount)
async def post_caps(
    sub_id: str, body: schemas.CapsIn, idempotency: Idempotency, tenant: Tenant, rebill: Rebill
) -> Response:
    def run() -> tuple[int, Any]:
        agency_id = tenant.agency_id()
        visible_sub(tenant.caller, agency_id, sub_id)
        require(tenant.caller, "settings")
        set_caps(
            rebill.uow,
            agency_id,
            sub_id,
            body.monthly_spend,
            body.monthly_minutes,
            ",".join(body.alerts) if body.alerts is not None else None,
            body.enforcement,
            key_actor(tenant.caller),
            rebill.clock.now(),
        )
        return 200, _document(rebill, agency_id, sub_id)

    return await idempotency.respond(run)


@router.post("/v1/sub_accounts/{sub_id}/auto_top_up", response_model=schemas.SubAccount)
async def post_auto_top_up(
    sub_id: str,
    body: schemas.AutoTopUpIn,
    idempotency: Idempotency,
    tenant: Tenant,
    rebill: Rebill,
) -> Response:
    """Charge the client's saved card `amount` when its credits fall below `threshold`
    (both null: off). Bounded like a checkout purchase; `billing` and `admin` keys only."""

    def run() -> tuple[int, Any]:
        agency_id = tenant.agency_id()
        visible_sub(tenant.caller, agency_id, sub_id)
        require(tenant.caller, "billing")
        set_auto_top_up(
            rebill.uow,
            agency_id,
            sub_id,
            body.threshold,
            body.amount,
            catalog_caller(tenant.caller),
            rebill.clock.now(),
        )
        return 200, _document(rebill, agency_id, sub_id)

    return await idempotency.respond(run)


@router.post("/v1/sub_accounts/{sub_id}/tax_identity", response_model=schemas.SubAccount)
async def post_tax_identity(
    sub_id: str,
    body: schemas.TaxIdentityIn,
    idempotency: Idempotency,
    tenant: Tenant,
    rebill: Rebill,
) -> Response:
    """The client's country, tax ID and address (the agency's fields; docs/tax.md): checked
    as in a catalog (EU VAT numbers by their check digits); a key left out is kept."""

    def run() -> tuple[int, Any]:
        agency_id = tenant.agency_id()
        visible_sub(tenant.caller, agency_id, sub_id)
        require(tenant.caller, "settings")
        set_tax_identity(
            rebill.uow,
            agency_id,
            sub_id,
            body.model_dump(include=body.model_fields_set),
            catalog_caller(tenant.caller),
            rebill.clock.now(),
        )
        return 200, _document(rebill, agency_id, sub_id)

    return await idempotency.respond(run)


@router.post("/v1/sub_accounts/{sub_id}/state", response_model=schemas.StateOut)
async def post_state(
    sub_id: str, body: schemas.StateIn, idempotency: Idempotency, tenant: Tenant, rebill: Rebill
) -> Response:
    def run() -> tuple[int, Any]:
        agency_id = tenant.agency_id()
        visible_sub(tenant.caller, agency_id, sub_id)
        require(tenant.caller, "settings")
        old = set_state(
            rebill.uow,
            agency_id,
            sub_id,
            body.state,
            tenant.caller.key_id,
            body.reason,
            rebill.clock.now(),
        )
        return 200, {"id": sub_id, "from_state": old, "to_state": body.state}

    return await idempotency.respond(run)
