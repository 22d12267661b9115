"""The tenant is chosen once: open an agency's repositories, or refuse with the one
`NotFoundError` every use case gives for an agency (or a sub-account) that does not exist."""

from __future__ import annotations

from rebill.domain.account import Agency, SubAccount
from rebill.domain.errors import NotFoundError
from rebill.services.ports.uow import AgencyView, UnitOfWork


def open_agency(uow: UnitOfWork, agency_id: str | None) -> tuple[Agency, AgencyView]:
    """The agency and its repositories (bound to it). An empty id, like an unknown one, is
    input that names no agency: NotFoundError."""
    if agency_id:
        tenant = uow.for_agency(agency_id)
        agency = tenant.agency.get()
        if agency is not None:
            return agency, tenant
    raise NotFoundError(f"agency {agency_id!r} does not exist")


def require_sub_account(tenant: AgencyView, sub_account_id: str | None) -> SubAccount:
    sub = tenant.sub_accounts.get(sub_account_id) if sub_account_id else None
    if sub is None:
        raise NotFoundError(
            f"sub-account {sub_account_id!r} does not exist in agency {tenant.agency_id!r}"
        )
    return sub
