"""Who is calling: the platform, an agency user with a role, or a sub-account; and what each
may do. Every query is scoped by the caller's tenant."""

from __future__ import annotations

from dataclasses import dataclass

AGENCY_ROLES = ("admin", "billing", "settings")  # of API keys and of panel users
# A panel user may also be a viewer, who reads everything and changes nothing (no API key has
# this role: a key that may write nothing would be a key for reading, which any role gives).
VIEWER = "viewer"
# Least privileged first: the order the panel offers them in (its first is the default).
STAFF_ROLES = (VIEWER, "settings", "billing", "admin")
# What each agency role may change; every role may read its agency's data.
ROLE_WRITES = {
    "admin": frozenset({"usage", "billing", "settings"}),
    "billing": frozenset({"usage", "billing"}),
    "settings": frozenset({"settings"}),
    VIEWER: frozenset(),
}


@dataclass(frozen=True)
class Principal:
    key_id: str
    kind: str  # platform | agency | sub_account
    agency_id: str | None = None
    sub_account_id: str | None = None
    role: str | None = None

    def sees_agency(self, agency_id: str) -> bool:
        return self.kind == "platform" or self.agency_id == agency_id

    def sees_sub_account(self, agency_id: str, sub_account_id: str) -> bool:
        if not self.sees_agency(agency_id):
            return False
        return self.kind != "sub_account" or self.sub_account_id == sub_account_id

    def may_write(self, area: str) -> bool:
        """area: usage (calls), billing (credits, close), settings (catalog, caps)."""
        if self.kind == "platform":
            return True
        if self.kind == "sub_account":
            return False
        return area in ROLE_WRITES.get(self.role or "", frozenset())
