"""Custom portal domains: the bound agency's requests and its one active domain; and the
platform's look-up of a host's owner (one owner per host, by a unique index)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class CustomDomain:
    """An agency's custom portal host: pending (asked), active (approved or proven by DNS) or
    inactive (replaced by another)."""

    agency_id: str
    domain: str
    status: str
    token: str
    requested_at: datetime
    activated_at: datetime | None


class DomainRepository(Protocol):
    def get(self, domain: str) -> CustomDomain | None: ...

    def all(self) -> list[CustomDomain]: ...

    def add(self, domain: str, token: str, at: datetime) -> None: ...

    def activate(self, domain: str, at: datetime) -> bool:
        """Make `domain` the agency's one active domain; False when another agency holds it."""
        ...

    def remove(self, domain: str) -> bool: ...

    def deactivate_all(self) -> None: ...


class DomainDirectory(Protocol):
    def all(self) -> list[CustomDomain]:
        """Every agency's domains."""
        ...

    def owner(self, domain: str) -> str | None:
        """The agency whose active domain this is (indexed)."""
        ...
