"""What the agency must know on every panel page and what its clients may read: calls being
refused because the agency reached its credit limit with the platform, and online payments
refused because the agency's Stripe Tax setup is incomplete (the client reads plain words;
the agency gets an alert, e-mailed like any other, naming the missing fields)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rebill.domain.errors import TaxNotConfiguredError
from rebill.domain.money import format_micros_as_minor
from rebill.domain.period import Period
from rebill.services.accounts.tenant import open_agency
from rebill.services.ports import Alert, UnitOfWorkFactory

TAX_NOT_READY = "tax_not_ready"


def agency_banners(
    uow_factory: UnitOfWorkFactory, agency_id: str, now: datetime
) -> list[dict[str, Any]]:
    """The panel's banners: calls refused at the credit limit; a client's payment refused
    this month for the tax setup."""
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        limit = agency.credit_limit_micros
        exposure = tenant.usage.exposure_micros() if limit is not None else 0
        period = str(Period.containing(now, agency.tz))
        refused = [
            a for a in tenant.alerts.all() if a.metric == TAX_NOT_READY and a.period == period
        ]
    banners = []
    if limit is not None and exposure >= limit:
        banners.append(
            {
                "id": "blocked",
                "text": (
                    f"Your clients' calls are being refused: what you owe the platform "
                    f"({format_micros_as_minor(exposure, agency.currency)} {agency.currency}) "
                    f"reached your credit limit of "
                    f"{format_micros_as_minor(limit, agency.currency)}. Pay your open "
                    "wholesale invoices or ask the platform to raise the limit."
                ),
                "link": ("/panel/invoices", "Your invoices"),
            }
        )
    if refused and agency.tax.mode == "stripe":
        banners.append(
            {
                "id": "tax",
                "text": refused[-1].message,
                "link": ("/panel/gateway", "Fix it on Gateway & tax"),
            }
        )
    return banners


def calls_refused(uow_factory: UnitOfWorkFactory, agency_id: str) -> bool:
    """Whether the agency's clients' calls are refused at its credit limit (the portal's
    banner; the client is told no amounts)."""
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        limit = agency.credit_limit_micros
        return limit is not None and tenant.usage.exposure_micros() >= limit


def record_tax_refusal(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    sub_account_id: str,
    error: TaxNotConfiguredError,
    now: datetime,
) -> None:
    """A client's online payment was refused for the agency's tax setup: an alert for the
    agency (once a month, e-mailed to its support address) naming what to fix."""
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        brand = tenant.brand.get()
        missing = ", ".join(error.missing_fields) or "the Stripe Tax settings"
        fixes = " ".join(error.fixes)
        message = (
            f"A client ({sub_account_id}) could not pay online: Stripe Tax on your account is "
            f"incomplete (missing: {missing}). {fixes}".strip().rstrip(".")
        )
        alert = Alert(
            agency_id,
            "",
            TAX_NOT_READY,
            "",
            str(Period.containing(now, agency.tz)),
            message,
            tuple(r for r in (brand.support_email,) if r),
            now,
        )
        tenant.alerts.add(alert)
        uow.commit()
