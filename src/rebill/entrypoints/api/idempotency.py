"""Every POST of the API runs through `IdempotentWrite.respond`: the body is read, then the
work runs off the event loop. With an `Idempotency-Key`, the first response to (key id,
Idempotency-Key) is replayed for 24 h (`Idempotent-Replayed: true`); 409 while that first
request is in flight; 422 when the key comes back with another request. The records are kept
by `services.access.idempotency`."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from rebill.bootstrap import App
from rebill.domain.access import Principal
from rebill.domain.errors import BillingError
from rebill.entrypoints.api import errors
from rebill.services.access.idempotency import (
    IdempotencyRecord,
    claim_key,
    finish_key,
    release_key,
)

logger = logging.getLogger("rebill.api")
# How long a request keeps trying to record its key's outcome while the database is away.
record_write_seconds_max = 30.0

# The work of a POST: its status code and JSON body.
Work = Callable[[], tuple[int, Any]]


def media_of(status: int) -> str:
    return errors.PROBLEM if status >= 400 else "application/json"


@dataclass(frozen=True)
class IdempotentWrite:
    rebill: App
    request: Request
    caller: Principal
    key: str | None  # the request's Idempotency-Key

    async def respond(self, run: Work) -> Response:
        """Read the body, then run the work off the event loop, idempotently."""
        raw = await self.request.body()
        target = self.request.url.path  # the query string too: ?agency=a and ?agency=b differ
        if self.request.url.query:
            target = f"{target}?{self.request.url.query}"
        return await run_in_threadpool(self._once, raw, target, run)

    def _once(self, request_body: bytes, target: str, run: Work) -> JSONResponse:
        if not self.key:
            status, body = run()
            return JSONResponse(body, status_code=status, media_type=media_of(status))
        digest = hashlib.sha256(target.encode() + b"\n" + request_body).hexdigest()
        uow = self.rebill.uow
        record = claim_key(uow, self.caller.key_id, self.key, digest, self.rebill.clock.now())
        if record is not None:
            return _replay(record, digest)
        key_id, key = self.caller.key_id, self.key
        try:
            status, body = run()
        except BillingError as exc:
            response = errors.billing_problem(exc)
            status, body = response.status_code, json.loads(bytes(response.body))
        except Exception:
            # The work rolled back: the key is free again at once (a retry runs the work).
            _insist(lambda: release_key(uow, key_id, key))
            raise
        # The work committed: its answer is kept whatever the database is doing meanwhile,
        # so a retry replays it (never runs it again, never finds the key stuck in flight).
        _insist(lambda: finish_key(uow, key_id, key, status, json.dumps(body)))
        return JSONResponse(body, status_code=status, media_type=media_of(status))


def _insist(write: Callable[[], None]) -> None:
    """Run a short write on the idempotency record until it succeeds, through a database
    that drops connections (each attempt takes a fresh one), for up to
    `record_write_seconds_max`; then the last failure is raised (and logged as a 503)."""
    deadline = time.monotonic() + record_write_seconds_max
    wait = 0.02
    while True:
        try:
            write()
            return
        except Exception as exc:
            if not errors.database_unavailable(exc) or time.monotonic() + wait > deadline:
                logger.error("idempotency record not written", exc_info=exc)
                raise
        time.sleep(wait)
        wait = min(wait * 2, 1.0)


def _replay(record: IdempotencyRecord, request_sha256: str) -> JSONResponse:
    """The first request's response; or why this one gets none."""
    if record.request_sha256 != request_sha256:
        return errors.problem(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was used with another request",
            "Idempotency-Key",
        )
    if not record.done:
        return errors.problem(
            409,
            "idempotency_key_in_flight",
            "a request with this Idempotency-Key is still being processed",
        )
    return JSONResponse(
        json.loads(record.body_json),
        media_type=media_of(record.status_code),
        status_code=record.status_code,
        headers={"Idempotent-Replayed": "true"},
    )
