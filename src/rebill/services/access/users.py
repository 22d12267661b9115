"""People who sign in to the web faces: the platform console, an agency's panel (admin, billing,
settings or viewer role) and a client's portal. Passwords are salted scrypt hashes (`passwords.py`),
attempts are throttled per account and per address (`sign_in_throttle.py`); a session is a
random token whose SHA-256 is stored beside the CSRF token its forms must carry."""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rebill.domain.access import ROLE_WRITES, STAFF_ROLES
from rebill.domain.errors import (
    BusyError,
    ConflictError,
    FieldError,
    NotFoundError,
    ValidationError,
)
from rebill.services.access import sign_in_throttle
from rebill.services.access.passwords import PasswordHasher
from rebill.services.accounts.tenant import open_agency
from rebill.services.ports import UnitOfWorkFactory, WebUserRecord

ROLES = ("platform", *STAFF_ROLES, "client")
session_lifetime = timedelta(hours=12)
password_length_min = 10
password_length_max = 200
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AccountDisabledError(ConflictError):
    """The right password of a disabled user: their agency's admin took their access away."""

    code = "account_disabled"

    def __init__(self) -> None:
        super().__init__(
            "This account has been disabled by its agency's admin. Ask them to enable it."
        )


@dataclass(frozen=True)
class WebUser:
    id: str
    email: str
    role: str
    agency_id: str | None
    sub_account_id: str | None

    @property
    def kind(self) -> str:
        """platform | agency | client"""
        return self.role if self.role in ("platform", "client") else "agency"

    def may_write(self, area: str) -> bool:
        """area: billing (credits, close), settings (plans, caps); as the API's key roles."""
        if self.role == "platform":
            return True
        return area in ROLE_WRITES.get(self.role, frozenset())


@dataclass(frozen=True)
class WebSession:
    user: WebUser
    csrf_token: str
    # What identifies the session server-side (the cookie token itself is never kept): Connect
    # link states started in the panel are bound to it.
    token_sha256: str


def _user(record: WebUserRecord) -> WebUser:
    return WebUser(record.id, record.email, record.role, record.agency_id, record.sub_account_id)


def create_user(
    uow_factory: UnitOfWorkFactory,
    passwords: PasswordHasher,
    email: str,
    password: str,
    role: str,
    agency_id: str | None,
    sub_account_id: str | None,
    now: datetime,
) -> WebUser:
    email = email.strip().lower()
    errors: list[FieldError] = []
    if not EMAIL.match(email):
        errors.append(FieldError("--email", f"{email!r} is not an e-mail address", "email"))
    if not password_length_min <= len(password) <= password_length_max:
        errors.append(
            FieldError(
                "--password",
                f"a password has {password_length_min} to {password_length_max} characters",
                "password",
            )
        )
    if role not in ROLES:
        errors.append(FieldError("--role", f"{role!r} is not one of {', '.join(ROLES)}", "role"))
    if role == "platform" and (agency_id or sub_account_id):
        errors.append(FieldError("--agency", "platform users belong to no agency", "agency"))
    if role != "platform" and not agency_id:
        errors.append(FieldError("--agency", "agency and client users name an agency", "agency"))
    if role == "client" and not sub_account_id:
        errors.append(FieldError("--sub-account", "a client names its sub-account", "sub_account"))
    if role != "client" and sub_account_id:
        errors.append(FieldError("--sub-account", "only clients have a sub-account", "sub_account"))
    if errors:
        raise ValidationError(errors, "invalid user")
    password_hash = passwords.hash(password)
    user_id = "usr_" + secrets.token_hex(12)
    with uow_factory() as uow:
        if agency_id:
            _, tenant = open_agency(uow, agency_id)
            if sub_account_id and tenant.sub_accounts.get(sub_account_id) is None:
                raise NotFoundError(f"sub-account {sub_account_id!r} does not exist")
        users = uow.platform.web_users
        if users.by_email(email) is not None:
            raise ConflictError(f"a user {email!r} exists already")
        users.add(
            WebUserRecord(user_id, email, password_hash, role, agency_id, sub_account_id, now)
        )
        uow.commit()
    return WebUser(user_id, email, role, agency_id, sub_account_id)


def authenticate(
    uow_factory: UnitOfWorkFactory,
    passwords: PasswordHasher,
    email: str,
    password: str,
    address: str,
    now: datetime,
) -> WebUser | None:
    """The user with this e-mail and password, or None (the same time either way). Raises
    TooManyAttemptsError while the account or the client address must wait (no hash is
    computed then) and BusyError when the hashing queue is full. A right password stored at
    an older cost is stored again at today's. A disabled user's right password raises
    AccountDisabledError (only the password's owner learns the account is disabled; the
    attempt stays counted as a failure)."""
    email = email.strip().lower()
    sign_in_throttle.begin_attempt(uow_factory, email, address, now)
    try:
        user, renewal = _check(uow_factory, passwords, email, password)
    except BusyError:
        with uow_factory() as uow:
            sign_in_throttle.record_unchecked(uow.platform.sign_in_throttle, email, address, now)
            uow.commit()
        raise
    if user is None:
        return None
    with uow_factory() as uow:
        users = uow.platform.web_users
        if renewal:
            old_hash, new_hash = renewal
            current = users.get(user.id)
            if current is not None and current.password_hash == old_hash:  # not changed since
                users.set_password(user.id, new_hash)
        sign_in_throttle.record_success(uow.platform.sign_in_throttle, email, address, now)
        uow.commit()
    return user


def _check(
    uow_factory: UnitOfWorkFactory, passwords: PasswordHasher, email: str, password: str
) -> tuple[WebUser | None, tuple[str, str] | None]:
    """(the user, (their hash, a new one) when theirs is of an outdated cost), or (None, None)."""
    if len(password) > password_length_max:  # no stored password is this long
        return None, None
    with uow_factory() as uow:
        found = uow.platform.web_users.by_email(email)
    if found is None:
        passwords.waste(password)
        return None, None
    verdict = passwords.verify(password, found.password_hash)
    if not verdict.matches:
        return None, None
    if found.disabled:
        raise AccountDisabledError
    renewal = None
    if verdict.outdated:
        with contextlib.suppress(BusyError):  # the sign-in stands; renewed next time
            renewal = (found.password_hash, passwords.hash(password))
    return _user(found), renewal


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(uow_factory: UnitOfWorkFactory, user: WebUser, now: datetime) -> str:
    """A new session for the user; returns the cookie token (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    with uow_factory() as uow:
        sessions = uow.platform.web_sessions
        sessions.delete_expired(now)
        sessions.add(
            _token_hash(token), user.id, secrets.token_urlsafe(32), now, now + session_lifetime
        )
        uow.commit()
    return token


def session_for(uow_factory: UnitOfWorkFactory, token: str, now: datetime) -> WebSession | None:
    if not token:
        return None
    with uow_factory() as uow:
        found = uow.platform.web_sessions.get(_token_hash(token))
        if found is None or found.expires_at <= now:
            return None
        user = uow.platform.web_users.get(found.user_id)
    if user is None or user.disabled:
        return None
    return WebSession(_user(user), found.csrf_token, _token_hash(token))


def end_session(uow_factory: UnitOfWorkFactory, token: str) -> None:
    with uow_factory() as uow:
        uow.platform.web_sessions.delete(_token_hash(token))
        uow.commit()


def list_users(uow_factory: UnitOfWorkFactory, agency_id: str | None) -> list[dict[str, Any]]:
    """The agency's users (its staff and its clients); every user, the platform's view, when
    None. Their password hashes stay inside."""
    with uow_factory() as uow:
        if agency_id is not None:
            users = uow.for_agency(agency_id).users.all()
        else:
            users = uow.platform.web_users.all()
    return [
        {
            "id": u.id,
            "email": u.email,
            "role": u.role,
            "agency_id": u.agency_id,
            "sub_account_id": u.sub_account_id,
            "created_at": u.created_at,
            "disabled": u.disabled,
        }
        for u in users
    ]
