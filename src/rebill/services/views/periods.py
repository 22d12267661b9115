"""Read models of an agency's billing periods: one period's state with its close document,
the periods closed and the one that may be closed next, and the period running now."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rebill.domain.period import Period
from rebill.services.accounts.tenant import open_agency
from rebill.services.invoicing.close import period_document
from rebill.services.ports import UnitOfWorkFactory


def period_view(uow_factory: UnitOfWorkFactory, agency_id: str, period: Period) -> dict[str, Any]:
    """`open` or `closed`, with the close document (as `close_period` answered) once closed."""
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        closed = tenant.periods.close_of(str(period)) is not None
        document = period_document(tenant, agency, period) if closed else None
    return {
        "id": str(period),
        "agency": agency_id,
        "status": "closed" if closed else "open",
        "document": document,
    }


def period_closing(uow_factory: UnitOfWorkFactory, agency_id: str, now: datetime) -> dict[str, Any]:
    """The agency's closed periods, newest first, and `closable`: the month before `now` (in
    the agency's timezone) when it is still open, else None."""
    with uow_factory() as uow:
        tenant = uow.for_agency(agency_id)
        agency = tenant.agency.get()
        closed = tenant.periods.closed()
    assert agency is not None, "a signed-in agency user's agency exists"
    last = str(Period.containing(now, agency.tz).previous())
    return {
        "closable": last if last not in closed else None,
        "closed": sorted(closed, reverse=True),
    }


def current_period(uow_factory: UnitOfWorkFactory, agency_id: str, now: datetime) -> Period:
    """The period running at `now` in the agency's timezone."""
    with uow_factory() as uow:
        agency = uow.for_agency(agency_id).agency.get()
    assert agency is not None, "a signed-in agency user's agency exists"
    return Period.containing(now, agency.tz)
