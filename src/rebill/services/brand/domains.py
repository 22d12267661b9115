"""Custom portal domains: an agency asks for a host; it becomes active when the platform
approves it or when a DNS TXT record proves the agency controls it. Never one of the
platform's own hosts, one owner per host, looked up by an index."""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rebill.domain.errors import ConflictError, FieldError, NotFoundError, ValidationError
from rebill.services.accounts.tenant import open_agency
from rebill.services.ports import CustomDomain, DomainResolver, UnitOfWorkFactory

domains_per_agency_max = 5
domain_length_max = 253
DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
CHALLENGE_LABEL = "_rebill-challenge"
CHALLENGE_PREFIX = "rebill-domain-verification="
LOCAL_NAMES = ("localhost", "localdomain", "local", "internal", "test", "invalid", "example")


@dataclass(frozen=True)
class PlatformHosts:
    """The hosts the platform itself answers on (its console and sign-in): never an agency's."""

    names: frozenset[str]

    def covers(self, domain: str) -> bool:
        return any(domain == host or domain.endswith(f".{host}") for host in self.names)


def normalized(text: str) -> str:
    """A host as rebill stores it: lower case, no trailing dot, no port; else a clear error."""
    domain = text.strip().lower().rstrip(".")
    problem = None
    try:
        ipaddress.ip_address(domain.strip("[]"))
        problem = "an IP address is not a domain"
    except ValueError:
        if not DOMAIN.match(domain):
            problem = "not a domain name like portal.example-agency.com"
        elif domain.rsplit(".", 1)[-1] in LOCAL_NAMES:
            problem = "a local or reserved name cannot be a portal domain"
    if problem:
        raise ValidationError([FieldError("", f"{text[:80]!r}: {problem}", "domain")])
    return domain


def challenge(record: CustomDomain) -> dict[str, str]:
    return {
        "type": "TXT",
        "name": f"{CHALLENGE_LABEL}.{record.domain}",
        "value": f"{CHALLENGE_PREFIX}{record.token}",
    }


def document(record: CustomDomain) -> dict[str, Any]:
    return {
        "domain": record.domain,
        "agency": record.agency_id,
        "status": record.status,
        "requested_at": record.requested_at.isoformat(),
        "activated_at": record.activated_at.isoformat() if record.activated_at else None,
        "verification": challenge(record) if record.status == "pending" else None,
    }


def request_domain(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    text: str,
    platform: PlatformHosts,
    now: datetime,
) -> dict[str, Any]:
    """Ask for `text` as the agency's portal domain: pending, with the TXT record to publish."""
    domain = normalized(text)
    if platform.covers(domain):
        raise ValidationError(
            [FieldError("", f"{domain} is one of the platform's own hosts", "domain")]
        )
    with uow_factory() as uow:
        _, tenant = open_agency(uow, agency_id)
        existing = tenant.domains.get(domain)
        if existing is not None:
            return document(existing)
        if uow.platform.domains.owner(domain) is not None:
            raise ConflictError(f"{domain} is already another agency's portal domain")
        if len(tenant.domains.all()) >= domains_per_agency_max:
            raise ConflictError(
                f"an agency may ask for at most {domains_per_agency_max} domains; remove one"
            )
        tenant.domains.add(domain, secrets.token_hex(16), now)
        record = tenant.domains.get(domain)
        assert record is not None
        uow.commit()
    return document(record)


def _pending(uow_factory: UnitOfWorkFactory, agency_id: str, domain: str) -> CustomDomain:
    with uow_factory() as uow:
        found = uow.for_agency(agency_id).domains if agency_id else None
        record = found.get(normalized(domain)) if found else None
    if record is None:
        raise NotFoundError(f"agency {agency_id!r} has not asked for {domain!r}")
    return record


def _activate(
    uow_factory: UnitOfWorkFactory, record: CustomDomain, now: datetime
) -> dict[str, Any]:
    with uow_factory() as uow:
        domains = uow.for_agency(record.agency_id).domains
        if not domains.activate(record.domain, now):
            raise ConflictError(f"{record.domain} is already another agency's portal domain")
        active = domains.get(record.domain)
        assert active is not None
        uow.commit()
    return document(active)


def verify_domain(
    uow_factory: UnitOfWorkFactory,
    resolver: DomainResolver,
    agency_id: str,
    domain: str,
    now: datetime,
) -> dict[str, Any]:
    """Activate a pending domain when its TXT record carries the agency's token."""
    record = _pending(uow_factory, agency_id, domain)
    if record.status == "active":
        return document(record)
    expected = challenge(record)
    if expected["value"] not in resolver.txt_records(expected["name"]):
        raise ConflictError(
            f"no TXT record {expected['value']!r} at {expected['name']} yet "
            "(DNS changes can take a while to show)"
        )
    return _activate(uow_factory, record, now)


def approve_domain(
    uow_factory: UnitOfWorkFactory, agency_id: str, domain: str, now: datetime
) -> dict[str, Any]:
    """The platform's approval: activate a domain an agency asked for."""
    return _activate(uow_factory, _pending(uow_factory, agency_id, domain), now)


def remove_domain(uow_factory: UnitOfWorkFactory, agency_id: str, domain: str) -> None:
    with uow_factory() as uow:
        if not uow.for_agency(agency_id).domains.remove(normalized(domain)):
            raise NotFoundError(f"agency {agency_id!r} has no domain {domain!r}")
        uow.commit()


def list_domains(uow_factory: UnitOfWorkFactory, agency_id: str | None) -> list[dict[str, Any]]:
    """One agency's domains, or (the platform's view, `None`) every agency's."""
    with uow_factory() as uow:
        if agency_id:
            records = uow.for_agency(agency_id).domains.all()
        else:
            records = uow.platform.domains.all()
    return [document(r) for r in records]
