"""Idempotency keys of API writes: the first response to (API key id, `Idempotency-Key`) is
kept for `replay_window` and replayed to a retry; a key is claimed (in flight) before its
request runs, so a second request with it cannot run alongside."""

from __future__ import annotations

from datetime import datetime, timedelta

from rebill.domain.errors import ConcurrentWriteError
from rebill.services.ports import IdempotencyRecord, UnitOfWorkFactory
from rebill.services.races import rerun_on_race

__all__ = ["IdempotencyRecord", "claim_key", "finish_key", "release_key", "replay_window"]

replay_window = timedelta(hours=24)


def claim_key(
    uow_factory: UnitOfWorkFactory, key_id: str, key: str, request_sha256: str, now: datetime
) -> IdempotencyRecord | None:
    """Claim `key` for a request about to run: None when claimed (no record, or only one
    older than `replay_window`, which is forgotten); else the record of the first request.
    Two requests claiming one key at once: the one that loses the race on the record's key
    looks again and finds the other's record (409 in flight, or its answer)."""
    return rerun_on_race(lambda: _claim(uow_factory, key_id, key, request_sha256, now))


def _claim(
    uow_factory: UnitOfWorkFactory, key_id: str, key: str, request_sha256: str, now: datetime
) -> IdempotencyRecord | None:
    with uow_factory() as uow:
        records = uow.platform.idempotency  # keyed by the API key, whatever its tenant
        found = records.get(key_id, key)
        if found is not None and found.created_at + replay_window < now:
            records.forget(key_id, key)
            found = None
        if found is not None:
            return found
        if not records.start(key_id, key, request_sha256, now):
            # Claimed by a concurrent request between the look and the start: look again.
            raise ConcurrentWriteError()
        uow.commit()
    return None


def finish_key(
    uow_factory: UnitOfWorkFactory, key_id: str, key: str, status_code: int, body_json: str
) -> None:
    """Keep the response of a claimed key's request, to be replayed."""
    with uow_factory() as uow:
        uow.platform.idempotency.finish(key_id, key, status_code, body_json)
        uow.commit()


def release_key(uow_factory: UnitOfWorkFactory, key_id: str, key: str) -> None:
    """Forget a claimed key whose request failed unexpectedly, so a retry runs again."""
    with uow_factory() as uow:
        uow.platform.idempotency.forget(key_id, key)
        uow.commit()
