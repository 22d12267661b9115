"""Read models of an agency's sub-accounts beyond their documents (`queries`): their ids, as
the panel and the demo offer them to choose from."""

from __future__ import annotations

from rebill.services.ports import UnitOfWorkFactory


def sub_account_ids(uow_factory: UnitOfWorkFactory, agency_id: str) -> list[str]:
    """The agency's sub-account ids, sorted."""
    with uow_factory() as uow:
        return sorted(uow.for_agency(agency_id).sub_accounts.ids())
