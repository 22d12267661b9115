"""Read models of an agency's webhooks: its endpoints (never their signing secrets) and the
deliveries made to them, as plain documents."""

from __future__ import annotations

from typing import Any

from rebill.services.ports import UnitOfWorkFactory


def endpoint_documents(uow_factory: UnitOfWorkFactory, agency_id: str) -> list[dict[str, Any]]:
    """The agency's endpoints, by id."""
    with uow_factory() as uow:
        return uow.store.webhook_endpoints(agency_id)


def delivery_documents(
    uow_factory: UnitOfWorkFactory, agency_id: str, delivery_id: str | None = None
) -> list[dict[str, Any]]:
    """The agency's deliveries, oldest first; only `delivery_id`'s (or none) when given."""
    with uow_factory() as uow:
        deliveries = uow.store.webhook_deliveries(agency_id)
    if delivery_id is None:
        return deliveries
    return [d for d in deliveries if d["id"] == delivery_id]


def webhooks_document(uow_factory: UnitOfWorkFactory, agency_id: str) -> dict[str, Any]:
    """`{"endpoints": [...], "deliveries": [...]}`, read in one transaction."""
    with uow_factory() as uow:
        return {
            "endpoints": uow.store.webhook_endpoints(agency_id),
            "deliveries": uow.store.webhook_deliveries(agency_id),
        }
