"""`/v1/domains`: custom portal domains. An agency asks (`admin`, `settings`); the domain is
active once its TXT record proves control or the platform approves it (platform keys only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response

from rebill.entrypoints.api import schemas
from rebill.entrypoints.api.deps import (
    Idempotency,
    Rebill,
    Tenant,
    refuse_sub_account,
    require,
    require_platform,
)
from rebill.services.brand import domains

router = APIRouter(tags=["domains"])
Domain = Annotated[str, Path(max_length=253)]


@router.get("/v1/domains", response_model=schemas.DomainList)
def list_domains(tenant: Tenant, rebill: Rebill) -> dict[str, Any]:
    """Custom portal domains: asked for (with the TXT record that proves control) and
    active. Platform keys without `agency` see every agency's."""
    refuse_sub_account(tenant.caller, "sub-account keys cannot read domains")
    agency_id = tenant.agency_id_or_every()
    return {"data": domains.list_domains(rebill.uow, agency_id), "has_more": False}


@router.post("/v1/domains", response_model=schemas.Domain, status_code=201)
async def post_domain(
    body: schemas.DomainIn, idempotency: Idempotency, tenant: Tenant, rebill: Rebill
) -> Response:
    """Ask for a portal domain. It stays `pending` until its TXT record is verified or
    the platform approves it; a platform host or another agency's domain is refused."""

    def run() -> tuple[int, Any]:
        agency_id = tenant.agency_id()
        require(tenant.caller, "settings")
        hosts = domains.PlatformHosts(rebill.settings.own_hosts())
        return 201, domains.request_domain(
            rebill.uow, agency_id, body.domain, hosts, rebill.clock.now()
        )

    return await idempotency.respond(run)


@router.post("/v1/domains/{domain}/verify", response_model=schemas.Domain)
async def post_domain_verify(
    domain: Domain, idempotency: Idempotency, tenant: Tenant, rebill: Rebill
) -> Response:
    """Check the domain's TXT record now; activate it when it carries the token."""

    def run() -> tuple[int, Any]:
        agency_id = tenant.agency_id()
        require(tenant.caller, "settings")
        return 200, domains.verify_domain(
            rebill.uow, rebill.dns(), agency_id, domain, rebill.clock.now()
        )

    return await idempotency.respond(run)


@router.post("/v1/domains/{domain}/approve", response_model=schemas.Domain)
async def post_domain_approve(
    domain: Domain, idempotency: Idempotency, tenant: Tenant, rebill: Rebill
) -> Response:
    """The platform approves a domain an agency asked for (platform keys only)."""

    def run() -> tuple[int, Any]:
        require_platform(tenant.caller, "only the platform approves domains")
        agency_id = tenant.agency_id()
        return 200, domains.approve_domain(rebill.uow, agency_id, domain, rebill.clock.now())

    return await idempotency.respond(run)
