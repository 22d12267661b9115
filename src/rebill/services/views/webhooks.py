"""Read models of an agency's webhooks: its endpoints (never their signing secrets) and the
deliveries made to them, as plain documents."""

from __future__ import annotations

from typing import Any

from rebill.services.ports import UnitOfWorkFactory, WebhookDelivery, WebhookEndpoint


def endpoint_document(endpoint: WebhookEndpoint) -> dict[str, Any]:
    disabled_at = endpoint.disabled_at
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": list(endpoint.events),
        "created_at": endpoint.created_at.isoformat(),
        "disabled": disabled_at is not None,
        "disabled_at": disabled_at.isoformat() if disabled_at else None,
        "consecutive_failures": endpoint.consecutive_failures,
    }


def delivery_document(delivery: WebhookDelivery) -> dict[str, Any]:
    delivered_at = delivery.delivered_at
    return {
        "id": delivery.id,
        "endpoint": delivery.endpoint_id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_error": delivery.last_error or None,
        "next_attempt_at": delivery.next_attempt_at.isoformat(),
        "delivered_at": delivered_at.isoformat() if delivered_at else None,
    }


def endpoint_documents(uow_factory: UnitOfWorkFactory, agency_id: str) -> list[dict[str, Any]]:
    """The agency's endpoints, by id."""
    with uow_factory() as uow:
        endpoints = uow.for_agency(agency_id).webhooks.endpoints()
    return [endpoint_document(e) for e in endpoints]


def delivery_documents(
    uow_factory: UnitOfWorkFactory, agency_id: str, delivery_id: str | None = None
) -> list[dict[str, Any]]:
    """The agency's deliveries, oldest first; only `delivery_id`'s (or none) when given."""
    with uow_factory() as uow:
        deliveries = uow.for_agency(agency_id).webhooks.deliveries()
    return [delivery_document(d) for d in deliveries if delivery_id in (None, d.id)]


def webhooks_document(uow_factory: UnitOfWorkFactory, agency_id: str) -> dict[str, Any]:
    """`{"endpoints": [...], "deliveries": [...]}`, read in one transaction."""
    with uow_factory() as uow:
        webhooks = uow.for_agency(agency_id).webhooks
        return {
            "endpoints": [endpoint_document(e) for e in webhooks.endpoints()],
            "deliveries": [delivery_document(d) for d in webhooks.deliveries()],
        }
