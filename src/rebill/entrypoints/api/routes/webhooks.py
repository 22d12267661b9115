"""`/v1/webhook_endpoints` and `/v1/webhook_deliveries`: where the agency's events are sent,
what was sent, and sending a delivery again. Not for sub-account keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from rebill.entrypoints.api import schemas
from rebill.entrypoints.api.deps import (
    Idempotency,
    Paging,
    Rebill,
    Tenant,
    refuse_sub_account,
    require,
)
from rebill.services.notifications import webhooks
from rebill.services.views.webhooks import delivery_documents, endpoint_documents

router = APIRouter(tags=["webhooks"])


@router.post(
    "/v1/webhook_endpoints", response_model=schemas.WebhookEndpointCreated, status_code=201
)
async def post_webhook_endpoint(
    body: schemas.WebhookEndpointIn, idempotency: Idempotency, tenant: Tenant, rebill: Rebill
) -> Response:
    """Register a URL; the signing secret is shown once, in this answer."""

    def run() -> tuple[int, Any]:
        agency_id = tenant.agency_id()
        require(tenant.caller, "settings")
        created = webhooks.add_endpoint(
            rebill.uow,
            agency_id,
            body.url,
            body.events,
            rebill.settings.webhooks_allow_private,
            rebill.clock.now(),
        )
        return 201, created

    return await idempotency.respond(run)


@router.get("/v1/webhook_endpoints", response_model=schemas.WebhookEndpointList)
def list_webhook_endpoints(tenant: Tenant, paging: Paging, rebill: Rebill) -> dict[str, Any]:
    agency_id = tenant.agency_id()
    refuse_sub_account(tenant.caller, "sub-account keys cannot read webhook endpoints")
    return paging.of(endpoint_documents(rebill.uow, agency_id))


@router.delete("/v1/webhook_endpoints/{endpoint_id}", response_model=schemas.WebhookEndpointDeleted)
def delete_webhook_endpoint(endpoint_id: str, tenant: Tenant, rebill: Rebill) -> dict[str, Any]:
    """Remove an endpoint for good: nothing more is sent to it; its deliveries not sent yet
    fail ("endpoint removed"); the sent ones stay listed. Needs the `settings` role."""
    agency_id = tenant.agency_id()
    refuse_sub_account(tenant.caller, "sub-account keys cannot remove webhook endpoints")
    require(tenant.caller, "settings")
    webhooks.remove_endpoint(rebill.uow, agency_id, endpoint_id)
    return {"id": endpoint_id, "deleted": True}


@router.get("/v1/webhook_deliveries", response_model=schemas.WebhookDeliveryList)
def list_webhook_deliveries(tenant: Tenant, paging: Paging, rebill: Rebill) -> dict[str, Any]:
    agency_id = tenant.agency_id()
    refuse_sub_account(tenant.caller, "sub-account keys cannot read webhook deliveries")
    return paging.of(delivery_documents(rebill.uow, agency_id))


@router.post(
    "/v1/webhook_deliveries/{delivery_id}/replay", response_model=schemas.WebhookDeliveryList
)
async def post_replay(
    delivery_id: str, idempotency: Idempotency, tenant: Tenant, rebill: Rebill
) -> Response:
    def run() -> tuple[int, Any]:
        agency_id = tenant.agency_id()
        require(tenant.caller, "settings")
        webhooks.replay(rebill.uow, agency_id, delivery_id, rebill.clock.now())
        found = delivery_documents(rebill.uow, agency_id, delivery_id)
        return 200, {"data": found, "has_more": False}

    return await idempotency.respond(run)
