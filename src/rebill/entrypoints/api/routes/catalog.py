"""`/v1/catalog`: apply a catalog document, under the ownership rule of
`services.catalog.ownership` (an agency key changes only what its agency owns)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from rebill.entrypoints.api import schemas
from rebill.entrypoints.api.body import load_json
from rebill.entrypoints.api.deps import Idempotency, Rebill, catalog_caller, require
from rebill.services.catalog.apply import apply_catalog

router = APIRouter(tags=["catalog"])


@router.post("/v1/catalog", response_model=schemas.ApplyOut)
async def post_catalog(request: Request, idempotency: Idempotency, rebill: Rebill) -> Response:
    """Apply a catalog document (the shape of the catalog file, as JSON)."""
    raw = await request.body()
    caller = idempotency.caller

    def run() -> tuple[int, Any]:
        require(caller, "settings")
        document = load_json(raw)
        report = apply_catalog(
            rebill.uow, document, "request body", rebill.clock.now(), catalog_caller(caller)
        )
        return 200, {
            "id": "catalog",
            "created": report.created,
            "updated": report.updated,
            "receipts": report.receipts,
        }

    return await idempotency.respond(run)
