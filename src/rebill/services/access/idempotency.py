"""Idempotency keys of API writes: the first response to (API key id, `Idempotency-Key`) is
kept for `replay_window` and replayed to a retry; a key is claimed (in flight) before its
request runs, so a second request with it cannot run alongside."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from rebill.services.ports import UnitOfWorkFactory

replay_window = timedelta(hours=24)


@dataclass(frozen=True)
class IdempotencyRecord:
    """A key's first request (by the SHA-256 of its target and body) and, once `done`, its
    response (status code and JSON body)."""

    request_sha256: str
    state: str  # "in_flight" | "done"
    status_code: int
    body_json: str
    created_at: datetime

    @property
    def done(self) -> bool:
        return self.state == "done"


def claim_key(
    uow_factory: UnitOfWorkFactory, key_id: str, key: str, request_sha256: str, now: datetime
) -> IdempotencyRecord | None:
    """Claim `key` for a request about to run: None when claimed (no record, or only one
    older than `replay_window`, which is forgotten); else the record of the first request."""
    with uow_factory() as uow:
        found = uow.store.idempotency_record(key_id, key)
        if found is not None and found[4] + replay_window < now:
            uow.store.forget_idempotent(key_id, key)
            found = None
        if found is not None:
            return IdempotencyRecord(*found)
        uow.store.start_idempotent(key_id, key, request_sha256, now)
        uow.commit()
    return None


def finish_key(
    uow_factory: UnitOfWorkFactory, key_id: str, key: str, status_code: int, body_json: str
) -> None:
    """Keep the response of a claimed key's request, to be replayed."""
    with uow_factory() as uow:
        uow.store.finish_idempotent(key_id, key, status_code, body_json)
        uow.commit()


def release_key(uow_factory: UnitOfWorkFactory, key_id: str, key: str) -> None:
    """Forget a claimed key whose request failed unexpectedly, so a retry runs again."""
    with uow_factory() as uow:
        uow.store.forget_idempotent(key_id, key)
        uow.commit()
