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


GroupBy = Annotated[
    str | None,
    Query(pattern="^campaign$", description="campaign: one row per sub-account and campaign"),
]


@router.get(
    "/v1/reports/usage",
    response_model=schemas.CampaignUsageReport | schemas.UsageReport,
    responses=CSV,
)
def usage_report(
    tenant: Tenant, format: Format, period: Month, rebill: Rebill, group_by: GroupBy = None
) -> Any:
    caller = tenant.caller
    agency_id = tenant.agency_id()
    if group_by == "campaign":
        return _by_campaign(tenant, format, period, rebill)
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


def _by_campaign(tenant: Tenant, format: str, period: str, rebill: Rebill) -> Any:
    """`group_by=campaign` (docs/campaigns.md); a sub-account key sees its own rows only."""
    caller = tenant.caller
    agency_id = tenant.agency_id()
    report = reports.usage_by_campaign(rebill.uow, agency_id, parse_period(period))

    def mine(row: dict[str, Any]) -> bool:
        return caller.kind != "sub_account" or row["sub_account"] == caller.sub_account_id

    rows = [r for r in report["rows"] if mine(r)]
    if format == "csv":
        return csv_response(rows)
    return {
        "id": f"usage:{agency_id}:{period}:campaign",
        "agency": agency_id,
        "period": period,
        "status": report["status"],
        "group_by": "campaign",
        "currency": report["currency"],
        "data": rows,
        "sub_accounts": [r for r in report["sub_accounts"] if mine(r)],
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
