"""Who may act and what they did: API keys and their idempotency records, web users, their
sessions and the sign-in throttle (looked up by key, e-mail or token: the platform's), and
the bound agency's users, invitations and audit log (an invitation's link is looked up by its
token's hash across agencies: the platform's `InvitationDirectory`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from rebill.domain.invitation import Invitation


@dataclass(frozen=True)
class ApiKey:
    id: str
    agency_id: str  # '' for a platform key
    sub_account_id: str  # '' unless a sub-account's key
    role: str
    secret_sha256: str
    revoked: bool = False


@dataclass(frozen=True)
class IdempotencyRecord:
    """A key's first request (by the SHA-256 of its target and body) and, once `done`, its
    response (status code and JSON body)."""

    request_sha256: str
    state: str  # in_flight | done
    status_code: int
    body_json: str
    created_at: datetime

    @property
    def done(self) -> bool:
        return self.state == "done"


@dataclass(frozen=True)
class WebUserRecord:
    id: str
    email: str
    password_hash: str
    role: str
    agency_id: str | None
    sub_account_id: str | None
    created_at: datetime
    disabled: bool = False


@dataclass(frozen=True)
class WebSessionRecord:
    user_id: str
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class ThrottleCount:
    failures: int
    last_failure_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    target: str
    field: str
    old_value: str
    new_value: str


class ApiKeyRepository(Protocol):
    def add(self, key: ApiKey, now: datetime) -> None: ...

    def revoke(self, key_id: str, now: datetime) -> bool:
        """False when there is no such key."""
        ...

    def get(self, key_id: str) -> ApiKey | None: ...


class IdempotencyRepository(Protocol):
    """Responses kept per API key and idempotency key."""

    def get(self, key_id: str, key: str) -> IdempotencyRecord | None: ...

    def start(self, key_id: str, key: str, request_sha256: str, now: datetime) -> bool:
        """Claim a key for a request in flight; False when another request holds it."""
        ...

    def finish(self, key_id: str, key: str, status_code: int, body: str) -> None: ...

    def forget(self, key_id: str, key: str) -> None: ...


class WebUserRepository(Protocol):
    def add(self, user: WebUserRecord) -> None: ...

    def set_password(self, user_id: str, password_hash: str) -> None: ...

    def by_email(self, email: str) -> WebUserRecord | None: ...

    def get(self, user_id: str) -> WebUserRecord | None: ...

    def all(self) -> list[WebUserRecord]:
        """Every user (the platform's view), by e-mail."""
        ...


class AgencyUserRepository(Protocol):
    def all(self) -> list[WebUserRecord]:
        """The bound agency's users (its staff and its clients), by e-mail."""
        ...

    def get(self, user_id: str) -> WebUserRecord | None:
        """The bound agency's user (None for another agency's, or the platform's)."""
        ...

    def active_admins(self) -> list[str]:
        """The ids of the agency's admins who are not disabled, locked until the unit of work
        ends (so two changes at once cannot both take away the last one)."""
        ...

    def set_role(self, user_id: str, role: str) -> None: ...

    def set_disabled(self, user_id: str, disabled_at: datetime | None) -> None:
        """Disable the user from `disabled_at`, or enable them (None)."""
        ...


class InvitationRepository(Protocol):
    """The bound agency's invitations."""

    def add(self, invitation: Invitation) -> None: ...

    def get(self, invitation_id: str) -> Invitation | None: ...

    def latest(self, limit: int) -> list[Invitation]:
        """The newest first, superseded ones (`replaced`) left out."""
        ...

    def pending_to(self, email: str) -> list[Invitation]:
        """Pending invitations to this address (expired ones included)."""
        ...

    def end(self, invitation_id: str, state: str, now: datetime) -> None:
        """Close it (revoked, replaced, unsent) unless it has ended already."""
        ...

    def sends_since(self, since: datetime, email: str | None = None) -> int:
        """Invitations sent (each resend is one) since `since`, to `email` when given."""
        ...

    def pending_count(self, now: datetime) -> int: ...


class InvitationDirectory(Protocol):
    """Invitations looked up by their link, whatever the agency (the link names none)."""

    def by_token(self, token_sha256: str) -> Invitation | None: ...

    def claim(self, token_sha256: str, user_id: str, now: datetime) -> bool:
        """Mark the pending, unexpired invitation with this token accepted (by `user_id`),
        in one conditional write; False when it is not pending or expired any more (so two
        uses of one link at once: one wins)."""
        ...


class WebSessionRepository(Protocol):
    def add(
        self, token_sha256: str, user_id: str, csrf_token: str, now: datetime, expires_at: datetime
    ) -> None: ...

    def get(self, token_sha256: str) -> WebSessionRecord | None: ...

    def delete(self, token_sha256: str) -> None: ...

    def delete_expired(self, now: datetime) -> None: ...

    def delete_for_user(self, user_id: str) -> int:
        """End every session of the user; how many there were."""
        ...


class SignInThrottleRepository(Protocol):
    def lock(self, kind: str, key_sha256: str, now: datetime) -> ThrottleCount:
        """A record's count, locked until the transaction ends; created empty when missing."""
        ...

    def save(self, kind: str, key_sha256: str, count: ThrottleCount) -> None:
        """Set a record's count (a count of 0 deletes it)."""
        ...

    def delete_before(self, before: datetime) -> None: ...


class AuditRepository(Protocol):
    """The audit log of one scope: the bound agency's, or the platform's own terms."""

    def add(self, entry: AuditEntry) -> None: ...

    def latest(self, limit: int) -> list[AuditEntry]:
        """The newest entries first."""
        ...
