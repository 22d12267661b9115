"""The custom-domain repository: an agency's requests for portal hosts and the one active
owner of each host (a unique index, so two agencies can never hold one host)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rebill.adapters.db.door_rows import CustomDomainRow
from rebill.adapters.db.repositories.common import AgencyBound
from rebill.services.ports.domains import CustomDomain


def _record(row: CustomDomainRow) -> CustomDomain:
    return CustomDomain(
        agency_id=row.agency_id,
        domain=row.domain,
        status=row.status,
        token=row.token,
        requested_at=row.requested_at,
        activated_at=row.activated_at,
    )


def _owner(session: Session, domain: str) -> str | None:
    return session.scalar(
        select(CustomDomainRow.agency_id).where(CustomDomainRow.active_domain == domain)
    )


class SqlDomainRepository(AgencyBound):
    def get(self, domain: str) -> CustomDomain | None:
        row = self.session.get(CustomDomainRow, (self.agency_id, domain))
        return _record(row) if row else None

    def all(self) -> list[CustomDomain]:
        rows = self.session.scalars(
            select(CustomDomainRow)
            .where(CustomDomainRow.agency_id == self.agency_id)
            .order_by(CustomDomainRow.domain)
        )
        return [_record(r) for r in rows]

    def add(self, domain: str, token: str, at: datetime) -> None:
        self.session.add(
            CustomDomainRow(
                agency_id=self.agency_id,
                domain=domain,
                status="pending",
                token=token,
                requested_at=at,
            )
        )
        self.session.flush()

    def activate(self, domain: str, at: datetime) -> bool:
        if _owner(self.session, domain) not in (None, self.agency_id):
            return False
        self.session.execute(
            update(CustomDomainRow)
            .where(CustomDomainRow.agency_id == self.agency_id, CustomDomainRow.domain != domain)
            .where(CustomDomainRow.status == "active")
            .values(status="inactive", active_domain=None)
        )
        row = self.session.get(CustomDomainRow, (self.agency_id, domain))
        if row is None:
            row = CustomDomainRow(
                agency_id=self.agency_id, domain=domain, token="", requested_at=at, status="pending"
            )
            self.session.add(row)
        row.status, row.activated_at, row.active_domain = "active", at, domain
        try:
            with self.session.begin_nested():
                self.session.flush()
        except IntegrityError:  # another agency's activation won the race
            return False
        return True

    def remove(self, domain: str) -> bool:
        row = self.session.get(CustomDomainRow, (self.agency_id, domain))
        if row is None:
            return False
        self.session.delete(row)
        self.session.flush()
        return True

    def deactivate_all(self) -> None:
        self.session.execute(
            update(CustomDomainRow)
            .where(CustomDomainRow.agency_id == self.agency_id, CustomDomainRow.status == "active")
            .values(status="inactive", active_domain=None)
        )


class SqlDomainDirectory:
    def __init__(self, session: Session) -> None:
        self.session = session

    def all(self) -> list[CustomDomain]:
        rows = self.session.scalars(
            select(CustomDomainRow).order_by(CustomDomainRow.agency_id, CustomDomainRow.domain)
        )
        return [_record(r) for r in rows]

    def owner(self, domain: str) -> str | None:
        return _owner(self.session, domain)
