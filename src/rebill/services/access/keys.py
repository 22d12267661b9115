"""API keys: shown once, stored as a SHA-256 hash of the secret, revocable."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from rebill.domain.access import AGENCY_ROLES, Principal
from rebill.domain.errors import FieldError, NotFoundError, ValidationError
from rebill.services.accounts.tenant import open_agency, require_sub_account
from rebill.services.ports import ApiKey, UnitOfWorkFactory

KEY_PREFIX = "rbk"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    uow_factory: UnitOfWorkFactory,
    kind: str,
    agency_id: str | None,
    sub_account_id: str | None,
    role: str | None,
    now: datetime,
) -> tuple[str, str]:
    """A new key; returns (key text, key id). The text is never stored."""
    if kind == "agency" and role not in AGENCY_ROLES:
        raise ValidationError(
            [FieldError("--role", f"{role!r} is not one of {', '.join(AGENCY_ROLES)}", "role")]
        )
    with uow_factory() as uow:
        if kind != "platform":
            _, tenant = open_agency(uow, agency_id)
            if kind == "sub_account":
                require_sub_account(tenant, sub_account_id)
        key_id = f"key_{secrets.token_hex(8)}"
        secret = secrets.token_urlsafe(32)
        key = ApiKey(key_id, agency_id or "", sub_account_id or "", role or kind, _hash(secret))
        uow.platform.api_keys.add(key, now)
        uow.commit()
    return f"{KEY_PREFIX}_{key_id}_{secret}", key_id


def revoke_key(uow_factory: UnitOfWorkFactory, key_id: str, now: datetime) -> None:
    with uow_factory() as uow:
        if not uow.platform.api_keys.revoke(key_id, now):
            raise NotFoundError(f"key {key_id!r} does not exist")
        uow.commit()


def authenticate(uow_factory: UnitOfWorkFactory, key_text: str) -> Principal | None:
    """The principal of a valid, unrevoked key; None otherwise (constant-time compare)."""
    parts = key_text.split("_")
    if len(parts) < 4 or parts[0] != KEY_PREFIX or parts[1] != "key":
        return None
    key_id = f"key_{parts[2]}"
    secret = "_".join(parts[3:])
    with uow_factory() as uow:
        key = uow.platform.api_keys.get(key_id)
    if key is None:
        return None
    if key.revoked or not hmac.compare_digest(key.secret_sha256, _hash(secret)):
        return None
    if not key.agency_id:
        return Principal(key_id, "platform")
    if key.sub_account_id:
        return Principal(key_id, "sub_account", key.agency_id, key.sub_account_id)
    return Principal(key_id, "agency", key.agency_id, role=key.role)
