"""Who may act and what they did: API keys (hashed secrets), idempotency records, web users
and sessions, the sign-in throttle (one row per account or address, inserted first so that
parallel attempts never both insert), and the audit log of one scope."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from rebill.adapters.db.door_rows import SignInThrottleRow
from rebill.adapters.db.read_cache import cached
from rebill.adapters.db.repositories.common import AgencyBound, insert_ignoring_duplicates
from rebill.adapters.db.rows import (
    ApiKeyRow,
    AuditEntryRow,
    IdempotencyRow,
    WebSessionRow,
    WebUserRow,
)
from rebill.services.ports.access import (
    ApiKey,
    AuditEntry,
    IdempotencyRecord,
    ThrottleCount,
    WebSessionRecord,
    WebUserRecord,
)

audit_value_length_max = 200
PLATFORM_AUDIT_SCOPE = ""  # the agency id the platform's own changes are logged under


def _user(row: WebUserRow) -> WebUserRecord:
    return WebUserRecord(
        row.id,
        row.email,
        row.password_hash,
        row.role,
        row.agency_id,
        row.sub_account_id,
        row.created_at,
        row.disabled_at is not None,
    )


class SqlApiKeyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, key: ApiKey, now: datetime) -> None:
        self.session.add(
            ApiKeyRow(
                id=key.id,
                agency_id=key.agency_id,
                sub_account_id=key.sub_account_id,
                role=key.role,
                secret_sha256=key.secret_sha256,
                created_at=now,
            )
        )
        self.session.flush()

    def revoke(self, key_id: str, now: datetime) -> bool:
        row = self.session.get(ApiKeyRow, key_id)
        if row is None:
            return False
        row.revoked_at = row.revoked_at or now
        self.session.flush()
        return True

    def get(self, key_id: str) -> ApiKey | None:
        return cached(self.session, ("api_key", key_id), lambda: self._get(key_id))

    def _get(self, key_id: str) -> ApiKey | None:
        row = self.session.get(ApiKeyRow, key_id)
        if row is None:
            return None
        return ApiKey(
            row.id,
            row.agency_id,
            row.sub_account_id,
            row.role,
            row.secret_sha256,
            row.revoked_at is not None,
        )


class SqlIdempotencyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, key_id: str, key: str) -> IdempotencyRecord | None:
        row = self.session.get(IdempotencyRow, (key_id, key))
        if row is None:
            return None
        return IdempotencyRecord(
            row.request_sha256, row.state, row.status_code, row.response_body, row.created_at
        )

    def start(self, key_id: str, key: str, request_sha256: str, now: datetime) -> bool:
        if self.session.get(IdempotencyRow, (key_id, key)) is not None:
            return False
        self.session.add(
            IdempotencyRow(
                key_id=key_id,
                idempotency_key=key,
                request_sha256=request_sha256,
                state="in_flight",
                status_code=0,
                response_body="",
                created_at=now,
            )
        )
        self.session.flush()
        return True

    def finish(self, key_id: str, key: str, status_code: int, body: str) -> None:
        row = self.session.get(IdempotencyRow, (key_id, key))
        assert row is not None
        row.state, row.status_code, row.response_body = "done", status_code, body
        self.session.flush()

    def forget(self, key_id: str, key: str) -> None:
        self.session.execute(
            delete(IdempotencyRow).where(
                IdempotencyRow.key_id == key_id, IdempotencyRow.idempotency_key == key
            )
        )


class SqlWebUserRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, user: WebUserRecord) -> None:
        self.session.add(
            WebUserRow(
                id=user.id,
                email=user.email,
                password_hash=user.password_hash,
                role=user.role,
                agency_id=user.agency_id,
                sub_account_id=user.sub_account_id,
                created_at=user.created_at,
            )
        )
        self.session.flush()

    def set_password(self, user_id: str, password_hash: str) -> None:
        self.session.execute(
            update(WebUserRow).where(WebUserRow.id == user_id).values(password_hash=password_hash)
        )

    def by_email(self, email: str) -> WebUserRecord | None:
        row = self.session.scalar(select(WebUserRow).where(WebUserRow.email == email))
        return _user(row) if row else None

    def get(self, user_id: str) -> WebUserRecord | None:
        row = self.session.get(WebUserRow, user_id)
        return _user(row) if row else None

    def all(self) -> list[WebUserRecord]:
        query = select(WebUserRow).order_by(WebUserRow.email)
        return [_user(row) for row in self.session.scalars(query)]


class SqlAgencyUserRepository(AgencyBound):
    def all(self) -> list[WebUserRecord]:
        query = (
            select(WebUserRow)
            .where(WebUserRow.agency_id == self.agency_id)
            .order_by(WebUserRow.email)
        )
        return [_user(row) for row in self.session.scalars(query)]

    def get(self, user_id: str) -> WebUserRecord | None:
        row = self.session.scalar(
            select(WebUserRow).where(
                WebUserRow.id == user_id, WebUserRow.agency_id == self.agency_id
            )
        )
        return _user(row) if row else None

    def active_admins(self) -> list[str]:
        """Locked until the transaction ends (PostgreSQL: a parallel demotion waits, then
        counts again without the admin this one took away)."""
        query = (
            select(WebUserRow.id)
            .where(
                WebUserRow.agency_id == self.agency_id,
                WebUserRow.role == "admin",
                WebUserRow.disabled_at.is_(None),
            )
            .order_by(WebUserRow.id)
            .with_for_update()
        )
        return list(self.session.scalars(query))

    def set_role(self, user_id: str, role: str) -> None:
        self.session.execute(
            update(WebUserRow)
            .where(WebUserRow.id == user_id, WebUserRow.agency_id == self.agency_id)
            .values(role=role)
        )

    def set_disabled(self, user_id: str, disabled_at: datetime | None) -> None:
        self.session.execute(
            update(WebUserRow)
            .where(WebUserRow.id == user_id, WebUserRow.agency_id == self.agency_id)
            .values(disabled_at=disabled_at)
        )


class SqlWebSessionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(
        self, token_sha256: str, user_id: str, csrf_token: str, now: datetime, expires_at: datetime
    ) -> None:
        self.session.add(
            WebSessionRow(
                token_sha256=token_sha256,
                user_id=user_id,
                csrf_token=csrf_token,
                created_at=now,
                expires_at=expires_at,
            )
        )

    def get(self, token_sha256: str) -> WebSessionRecord | None:
        row = self.session.get(WebSessionRow, token_sha256)
        return WebSessionRecord(row.user_id, row.csrf_token, row.expires_at) if row else None

    def delete(self, token_sha256: str) -> None:
        self.session.execute(
            delete(WebSessionRow).where(WebSessionRow.token_sha256 == token_sha256)
        )

    def delete_expired(self, now: datetime) -> None:
        self.session.execute(delete(WebSessionRow).where(WebSessionRow.expires_at <= now))

    def delete_for_user(self, user_id: str) -> int:
        result = self.session.execute(delete(WebSessionRow).where(WebSessionRow.user_id == user_id))
        return int(getattr(result, "rowcount", 0) or 0)


class SqlSignInThrottleRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def lock(self, kind: str, key_sha256: str, now: datetime) -> ThrottleCount:
        values = {"kind": kind, "key_sha256": key_sha256, "failures": 0, "last_failure_at": now}
        self.session.execute(insert_ignoring_duplicates(self.session, SignInThrottleRow, values))
        row = self.session.execute(
            select(SignInThrottleRow.failures, SignInThrottleRow.last_failure_at)
            .where(SignInThrottleRow.kind == kind, SignInThrottleRow.key_sha256 == key_sha256)
            .with_for_update()
        ).one()
        return ThrottleCount(int(row.failures), row.last_failure_at)

    def save(self, kind: str, key_sha256: str, count: ThrottleCount) -> None:
        where = (SignInThrottleRow.kind == kind, SignInThrottleRow.key_sha256 == key_sha256)
        if count.failures <= 0:
            self.session.execute(delete(SignInThrottleRow).where(*where))
            return
        self.session.execute(
            update(SignInThrottleRow)
            .where(*where)
            .values(failures=count.failures, last_failure_at=count.last_failure_at)
        )

    def delete_before(self, before: datetime) -> None:
        self.session.execute(
            delete(SignInThrottleRow).where(SignInThrottleRow.last_failure_at < before)
        )


class SqlAuditRepository:
    """The audit log of one scope: an agency's, or (PLATFORM_AUDIT_SCOPE) the platform's."""

    def __init__(self, session: Session, scope: str) -> None:
        self.session = session
        self.scope = scope

    def add(self, entry: AuditEntry) -> None:
        self.session.add(
            AuditEntryRow(
                agency_id=self.scope,
                at=entry.at,
                actor=entry.actor,
                target=entry.target,
                field=entry.field,
                old_value=entry.old_value[:audit_value_length_max],
                new_value=entry.new_value[:audit_value_length_max],
            )
        )

    def latest(self, limit: int) -> list[AuditEntry]:
        rows = self.session.scalars(
            select(AuditEntryRow)
            .where(AuditEntryRow.agency_id == self.scope)
            .order_by(AuditEntryRow.id.desc())
            .limit(limit)
        )
        return [
            AuditEntry(r.at, r.actor, r.target, r.field, r.old_value, r.new_value) for r in rows
        ]
