"""`/v1/calls`: usage records in batches (each record answered on its own), and the check
before a call that it may start."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from rebill.bootstrap import App, reading
from rebill.domain.access import Principal
from rebill.entrypoints.api import schemas
from rebill.entrypoints.api.deps import (
    AgencyScope,
    Idempotency,
    Rebill,
    Tenant,
    require,
    visible_sub,
)
from rebill.entrypoints.api.observe import count_authorization, count_calls
from rebill.services.access.keys import authenticate
from rebill.services.ports.uow import UnitOfWorkFactory
from rebill.services.transaction import one_transaction
from rebill.services.usage.authorize import authorize_call
from rebill.services.usage.import_file import RecordResult, ingest_calls

router = APIRouter(tags=["calls"])


def record_work(rebill: App, tenant: AgencyScope, body: schemas.CallsIn) -> tuple[int, Any]:
    """`POST /v1/calls`: each record answered on its own (the route and the fast path)."""
    return 200, record_together(rebill, tenant, [body])[0]


def record_together(
    rebill: App,
    tenant: AgencyScope,
    bodies: list[schemas.CallsIn],
    uow: UnitOfWorkFactory | None = None,
) -> list[dict[str, Any]]:
    """The records of several `POST /v1/calls` of one caller in one transaction (the fast
    path's group commit), each request answered as if alone: its records named `calls[i]`
    by their place in it. `uow` when the caller's key was checked in the same transaction."""
    agency_id = tenant.agency_id()
    require(tenant.caller, "usage")
    records = [call.record() for body in bodies for call in body.calls]
    labels = [f"calls[{index}]" for body in bodies for index in range(len(body.calls))]
    results = ingest_calls(uow or rebill.uow, agency_id, records, rebill.clock.now(), labels)
    count_calls([r.status for r in results])
    documents = []
    start = 0
    for body in bodies:
        end = start + len(body.calls)
        documents.append({"results": [_result(r) for r in results[start:end]]})
        start = end
    return documents


def _result(r: RecordResult) -> dict[str, Any]:
    error = None
    if r.error:
        error = {
            "code": "call_id_conflict" if r.fields else "invalid_record",
            "message": str(r.error),
            "param": r.error.field,
        } | ({"fields": list(r.fields)} if r.fields else {})
    return {"call_id": r.call_id, "status": r.status, "error": error}


def authorize_work(
    rebill: App,
    tenant: AgencyScope,
    body: schemas.AuthorizeIn,
    uow: UnitOfWorkFactory | None = None,
) -> tuple[int, Any]:
    """`POST /v1/calls/authorize` (the route and the fast path; `uow` when the caller's key
    was checked in the same transaction, `services.transaction.one_transaction`)."""
    agency_id = tenant.agency_id()
    visible_sub(tenant.caller, agency_id, body.sub_account)
    require(tenant.caller, "usage")
    # A decision reads committed state and never waits behind a bulk write (SQLite); one
    # that reserves a slot (call_id) writes, and takes the write lock as usual.
    with nullcontext() if body.call_id else reading():
        result = authorize_call(
            uow or rebill.uow,
            agency_id,
            body.sub_account,
            body.direction,
            body.call_id,
            rebill.clock.now(),
            body.campaign_id,
        )
    count_authorization(result.decision.allowed, result.decision.reason)
    return 200, result.document()


def record_with_key(
    rebill: App, token: str, bodies: list[schemas.CallsIn]
) -> list[dict[str, Any]] | None:
    """The fast path's group of `POST /v1/calls` and its caller's key check in one
    transaction: one session and one read of the cache version fewer a group (issue 13).
    None for an unknown or revoked key, before any work."""
    with one_transaction(rebill.uow) as uow:
        principal = authenticate(uow, token)
        if principal is None:
            return None
        return record_together(rebill, AgencyScope(principal, None), bodies, uow)


def decide_with_key(
    rebill: App, token: str, body: schemas.AuthorizeIn
) -> tuple[Principal, tuple[int, Any]] | None:
    """The fast path's decision (no `call_id`: nothing to reserve, it only reads) and its
    caller's key check in one read transaction: one session, one BEGIN, one read of the cache
    version instead of two of each (issue 13). None for an unknown or revoked key, before any
    work; what the key may do is checked as the route checks it."""
    assert not body.call_id, "a slot reservation writes: its key is checked on its own"
    with reading(), one_transaction(rebill.uow) as uow:
        principal = authenticate(uow, token)
        if principal is None:
            return None
        return principal, authorize_work(rebill, AgencyScope(principal, None), body, uow)


@router.post("/v1/calls", response_model=schemas.CallsOut)
async def post_calls(
    body: schemas.CallsIn, idempotency: Idempotency, tenant: Tenant, rebill: Rebill
) -> Response:
    return await idempotency.respond(lambda: record_work(rebill, tenant, body))


@router.post("/v1/calls/authorize", response_model=schemas.AuthorizeOut)
async def post_authorize(
    body: schemas.AuthorizeIn, idempotency: Idempotency, tenant: Tenant, rebill: Rebill
) -> Response:
    return await idempotency.respond(lambda: authorize_work(rebill, tenant, body))
