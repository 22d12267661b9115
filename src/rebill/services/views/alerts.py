"""Alerts that fired (each fires once), as plain documents, oldest first."""

from __future__ import annotations

from typing import Any

from rebill.services.ports import UnitOfWorkFactory
from rebill.services.views.queries import alert_documents


def fired_alerts(uow_factory: UnitOfWorkFactory, agency_id: str | None) -> list[dict[str, Any]]:
    """The alerts of one agency, or of all agencies when `agency_id` is None, as the CLI lists
    them (the API's documents without their `id`)."""
    return [
        {key: value for key, value in document.items() if key != "id"}
        for document in alert_documents(uow_factory, agency_id, None)
    ]
