"""An agency's outbound webhooks as one document: its endpoints and their deliveries."""

from __future__ import annotations

from typing import Any

from rebill.services.ports import UnitOfWorkFactory


def webhooks_document(uow_factory: UnitOfWorkFactory, agency_id: str) -> dict[str, Any]:
    """`{"endpoints": [...], "deliveries": [...]}`, read in one transaction."""
    with uow_factory() as uow:
        return {
            "endpoints": uow.store.webhook_endpoints(agency_id),
            "deliveries": uow.store.webhook_deliveries(agency_id),
        }
