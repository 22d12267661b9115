"""Read models for the API: agencies, plans, sub-accounts, credits and alerts as plain
documents (amounts as strings beside their currency)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rebill.domain.charges import plan_at
from rebill.domain.errors import NotFoundError
from rebill.domain.money import format_micros_as_minor, format_rate
from rebill.services.accounts.sub_accounts import caps_document
from rebill.services.ports import Store, UnitOfWork


def agency_documents(uow: UnitOfWork, agency_ids: list[str] | None) -> list[dict[str, Any]]:
    with uow:
        store = uow.store
        ids = agency_ids if agency_ids is not None else store.list_agency_ids()
        documents = []
        for agency_id in sorted(ids):
            agency = store.get_agency(agency_id)
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


def plan_documents(uow: UnitOfWork, agency_id: str) -> list[dict[str, Any]]:
    with uow:
        agency = _agency(uow.store, agency_id)
        currency = agency.currency
        documents = []
        for plan in sorted(uow.store.plans(agency_id).values(), key=lambda p: p.id):
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
    uow: UnitOfWork, agency_id: str, only: str | None, now: datetime
) -> list[dict[str, Any]]:
    with uow:
        store = uow.store
        agency = _agency(store, agency_id)
        subs = store.sub_accounts(agency_id)
        if only is not None:
            subs = {only: subs[only]} if only in subs else {}
        plans = store.plans(agency_id)
        history = store.plan_history(agency_id, plans)
        wallets = store.wallet_balances(agency_id)
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
                }
            )
        return documents


def alert_documents(
    uow: UnitOfWork, agency_id: str | None, sub_account_id: str | None
) -> list[dict[str, Any]]:
    with uow:
        alerts = uow.store.alerts(agency_id)
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
        for a in alerts
        if sub_account_id is None or a.sub_account_id == sub_account_id
    ]


def _agency(store: Store, agency_id: str) -> Any:
    agency = store.get_agency(agency_id)
    if agency is None:
        raise NotFoundError(f"agency {agency_id!r} does not exist")
    return agency
