"""API keys: shown once, stored as a SHA-256 hash of the secret, revocable."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from rebill.domain.access import AGENCY_ROLES, Principal
from rebill.domain.errors import FieldError, NotFoundError, ValidationError
from rebill.services.ports import UnitOfWork

KEY_PREFIX = "rbk"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    uow: UnitOfWork,
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
    with uow:
        store = uow.store
        if kind != "platform":
            if not agency_id or store.get_agency(agency_id) is None:
                raise NotFoundError(f"agency {agency_id!r} does not exist")
            if kind == "sub_account" and (
                not sub_account_id or store.get_sub_account(agency_id, sub_account_id) is None
            ):
                raise NotFoundError(
                    f"sub-account {sub_account_id!r} does not exist in agency {agency_id!r}"
                )
        key_id = f"key_{secrets.token_hex(8)}"
        secret = secrets.token_urlsafe(32)
        store.save_api_key(
            key_id, agency_id or "", sub_account_id or "", role or kind, _hash(secret), now
        )
        uow.commit()
    return f"{KEY_PREFIX}_{key_id}_{secret}", key_id


def revoke_key(uow: UnitOfWork, key_id: str, now: datetime) -> None:
    with uow:
        if not uow.store.revoke_api_key(key_id, now):
            raise NotFoundError(f"key {key_id!r} does not exist")
        uow.commit()


def authenticate(uow: UnitOfWork, key_text: str) -> Principal | None:
    """The principal of a valid, unrevoked key; None otherwise (constant-time compare)."""
    parts = key_text.split("_")
    if len(parts) < 4 or parts[0] != KEY_PREFIX or parts[1] != "key":
        return None
    key_id = f"key_{parts[2]}"
    secret = "_".join(parts[3:])
    with uow:
        row = uow.store.api_key(key_id)
    if row is None:
        return None
    agency_id, sub_id, role, digest, revoked = row
    if revoked or not hmac.compare_digest(digest, _hash(secret)):
        return None
    if not agency_id:
        return Principal(key_id, "platform")
    if sub_id:
        return Principal(key_id, "sub_account", agency_id, sub_id)
    return Principal(key_id, "agency", agency_id, role=role)
