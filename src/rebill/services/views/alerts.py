"""Alerts that fired (each fires once), as plain documents, oldest first."""

from __future__ import annotations

from typing import Any

from rebill.services.ports import UnitOfWorkFactory


def fired_alerts(uow_factory: UnitOfWorkFactory, agency_id: str | None) -> list[dict[str, Any]]:
    """The alerts of one agency, or of all agencies when `agency_id` is None."""
    with uow_factory() as uow:
        found = uow.for_agency(agency_id).alerts if agency_id else uow.platform.alerts
        alerts = found.all()
    return [
        {
            "agency": a.agency_id,
            "sub_account": a.sub_account_id or None,
            "metric": a.metric,
            "threshold": a.threshold,
            "period": a.period,
            "message": a.message,
            "fired_at": a.fired_at.isoformat(),
            "delivered_at": a.delivered_at.isoformat() if a.delivered_at else None,
        }
        for a in alerts
    ]
