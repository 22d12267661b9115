"""Read models for the API: agencies, plans, sub-accounts, credits and alerts as plain
documents (amounts as strings beside their currency)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rebill.domain.charges import plan_at
from rebill.domain.money import format_micros_as_minor, format_rate
from rebill.services.accounts.sub_accounts import caps_document
from rebill.services.accounts.tenant import open_agency
from rebill.services.ports import UnitOfWorkFactory


def agency_documents(
    uow_factory: UnitOfWorkFactory, agency_ids: list[str] | None
) -> list[dict[str, Any]]:
    """The agencies named (every agency, the platform's view, when None); unknown ones are
    left out."""
    with uow_factory() as uow:
        ids = agency_ids if agency_ids is not None else uow.platform.agencies.ids()
        documents = []
        for agency_id in sorted(ids):
            agency = uow.for_agency(agency_id).agency.get() if agency_id else None
            if agency is None:
                continue
            limit = agency.credit_limit_micros
            documents.append(
                {
                    "id": agency.id,
                    "name": agency.name,
                    "timezone": agency.timezone,
                    "currency": agency.currency,
                    "invoice_prefix": agency.invoice_prefix,
                    "tax_mode": agency.tax.mode,
                    "credit_limit": (
                        format_micros_as_minor(limit, agency.currency)
                        if limit is not None
                        else None
                    ),
                }
            )
        return documents


def plan_documents(uow_factory: UnitOfWorkFactory, agency_id: str) -> list[dict[str, Any]]:
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        currency = agency.currency
        documents = []
        for plan in sorted(tenant.plans.all().values(), key=lambda p: p.id):
            documents.append(
                {
                    "id": plan.id,
                    "name": plan.name,
                    "currency": currency,
                    "monthly_fee": format_micros_as_minor(plan.monthly_fee_micros, currency),
                    "included_minutes": plan.included_minutes,
                    "overage": plan.overage,
                    "voice": {
                        d: {
                            "overage_per_minute": format_rate(
                                r.per_minute_micros, r.per_minute_decimals, currency
                            ),
                            "increment": str(r.increment),
                        }
                        for d, r in plan.voice.items()
                    },
                    "included_numbers": plan.included_numbers,
                    "numbers": {
                        t: format_micros_as_minor(m, currency)
                        for t, m in plan.number_monthly_micros.items()
                    },
                    "limits": {
                        "campaigns": plan.limits.campaigns,
                        "numbers": plan.limits.numbers,
                        "parallel_calls": plan.limits.parallel_calls,
                    },
                }
            )
        return documents


def sub_account_documents(
    uow_factory: UnitOfWorkFactory, agency_id: str, only: str | None, now: datetime
) -> list[dict[str, Any]]:
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        subs = tenant.sub_accounts.all()
        if only is not None:
            subs = {only: subs[only]} if only in subs else {}
        history = tenant.plans.history(tenant.plans.all())
        wallets = tenant.wallets.balances()
        documents = []
        for sub_id in sorted(subs):
            sub = subs[sub_id]
            changes = history.get(sub_id, [])
            plan = plan_at(changes, now) or (changes[0].plan if changes else None)
            documents.append(
                {
                    "id": sub.id,
                    "agency": agency_id,
                    "name": sub.name,
                    "email": sub.email,
                    "state": sub.state,
                    "plan": plan.id if plan else None,
                    "currency": agency.currency,
                    "credits": format_micros_as_minor(wallets.get(sub_id, 0), agency.currency),
                    "caps": caps_document(sub.caps, agency.currency),
                    "limits": {
                        "campaigns": sub.limits.campaigns,
                        "numbers": sub.limits.numbers,
                        "parallel_calls": sub.limits.parallel_calls,
                    },
                    "country": sub.tax_identity.country,
                    "tax_id": sub.tax_identity.tax_id,
                    "address": list(sub.tax_identity.address_lines),
                }
            )
        return documents


def alert_documents(
    uow_factory: UnitOfWorkFactory, agency_id: str | None, sub_account_id: str | None
) -> list[dict[str, Any]]:
    """One agency's alerts, or (the platform's view, no agency) every agency's."""
    with uow_factory() as uow:
        alerts = uow.for_agency(agency_id).alerts if agency_id else uow.platform.alerts
        found = alerts.all()
    return [
        {
            "id": f"{a.agency_id}:{a.sub_account_id}:{a.metric}:{a.threshold}:{a.period}",
            "agency": a.agency_id,
            "sub_account": a.sub_account_id or None,
            "metric": a.metric,
            "threshold": a.threshold,
            "period": a.period,
            "message": a.message,
            "fired_at": a.fired_at.isoformat(),
            "delivered_at": a.delivered_at.isoformat() if a.delivered_at else None,
        }
        for a in found
        if sub_account_id is None or a.sub_account_id == sub_account_id
    ]
