"""`/v1/reports`: a period's usage by sub-account and, once closed, the agency's profit (as
JSON or CSV)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from rebill.domain.errors import ConflictError
from rebill.entrypoints.api import schemas
from rebill.entrypoints.api.deps import Rebill, Tenant
from rebill.entrypoints.api.responses import csv_response, parse_period
from rebill.entrypoints.api.routes.periods import agency_period
from rebill.services.views import reports

router = APIRouter(tags=["reports"])
Month = Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")]
CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}


async def output_format(format: Annotated[str, Query(pattern="^(json|csv)$")] = "json") -> str:
    return format


# A dependency (after the tenant's `agency`), so the document lists `format` last.
Format = Annotated[str, Depends(output_format)]


@router.get("/v1/reports/usage", response_model=schemas.UsageReport, responses=CSV)
def usage_report(tenant: Tenant, format: Format, period: Month, rebill: Rebill) -> Any:
    caller = tenant.caller
    agency_id = tenant.agency_id()
    summary = reports.usage_summary(rebill.uow, agency_id, parse_period(period))
    rows = [
        r
        for r in summary["sub_accounts"]
        if caller.kind != "sub_account" or r["sub_account"] == caller.sub_account_id
    ]
    if format == "csv":
        return csv_response(rows)
    return {
        "id": f"usage:{agency_id}:{period}",
        "agency": agency_id,
        "period": period,
        "status": summary["status"],
        "data": rows,
    }


@router.get("/v1/reports/profit", response_model=schemas.ProfitReport, responses=CSV)
def profit_report(tenant: Tenant, format: Format, period: Month, rebill: Rebill) -> Any:
    found = agency_period(rebill, tenant, period)
    document = found["document"]
    if document is None:
        raise ConflictError(f"period {period} is not closed yet")
    profit = document["profit"]
    if format == "csv":
        return csv_response(profit["by_sub_account"])
    return {
        "id": f"profit:{found['agency']}:{period}",
        "agency": found["agency"],
        "period": period,
        "currency": document["currency"],
        "revenue": profit["revenue"],
        "cost": profit["cost"],
        "profit": profit["profit"],
        "data": profit["by_sub_account"],
    }
