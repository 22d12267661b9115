"""What is stored, written back as catalog entries (the shape of INTERFACES.md's catalog file).

Applying an entry built here changes nothing. `apply_catalog` lays a caller's entry over it, so
a key the caller leaves out keeps its stored value, and the ownership rule compares the two."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

from rebill.domain.account import Brand, SubAccount
from rebill.domain.caps import Caps
from rebill.domain.dunning import DunningPolicy
from rebill.domain.money import MICRO_DECIMALS, format_scaled
from rebill.domain.plan import Limits, Plan
from rebill.domain.rating import VoiceRate
from rebill.services.accounts.tenant import open_agency
from rebill.services.ports import PlatformView, UnitOfWork


def decimal_text(micros: int) -> str:
    """Exact decimal text of a micro amount, as the catalog reads it."""
    return str(Decimal(format_scaled(micros, MICRO_DECIMALS)).normalize() + Decimal("0.00"))


def rate_text(rate: VoiceRate) -> str:
    return format_scaled(rate.per_minute_micros, MICRO_DECIMALS).rstrip("0").rstrip(".") or "0"


def fraction_text(value: Fraction) -> str:
    """A stored alert threshold (it came from an exact decimal) as decimal text."""
    return str((Decimal(value.numerator) / Decimal(value.denominator)).normalize())


def wholesale_document(
    voice: dict[str, VoiceRate], numbers: dict[str, int], fee: int | None
) -> dict[str, Any]:
    document: dict[str, Any] = {}
    if voice:
        document["voice"] = {
            d: {
                "per_minute": rate_text(r),
                "increment": str(r.increment),
                "connect_fee": decimal_text(r.connect_fee_micros),
            }
            for d, r in voice.items()
        }
    if numbers:
        document["numbers"] = {t: {"monthly": decimal_text(m)} for t, m in numbers.items()}
    if fee is not None:
        document["agency_monthly_fee"] = decimal_text(fee)
    return document


def brand_document(brand: Brand) -> dict[str, Any]:
    """The brand as a catalog entry; the logo stays stored (an entry without one keeps it)."""
    document: dict[str, Any] = {
        "display_name": brand.display_name,
        "colour": brand.colour,
        "support_email": brand.support_email,
        "address": list(brand.address_lines),
        "country": brand.country,
    }
    if brand.tax_id:
        document["tax_id"] = brand.tax_id
    if brand.domain:
        document["domain"] = brand.domain
    return document


def platform_entry(platform_view: PlatformView, period: str | None) -> dict[str, Any] | None:
    """The platform as it stands, with the wholesale card in force in `period` (None: the card
    set at once)."""
    platform = platform_view.settings.get()
    if platform is None:
        return None
    card = platform_view.wholesale.card(period)
    return {
        "name": platform.name,
        "currency": platform.currency,
        "invoice_prefix": platform.invoice_prefix,
        "brand": brand_document(platform_view.brand.get()),
        "wholesale": wholesale_document(
            card.voice, card.number_monthly_micros, card.agency_monthly_fee_micros
        ),
        **_platform_dunning(platform_view),
    }


def _platform_dunning(platform_view: PlatformView) -> dict[str, Any]:
    policy = platform_view.gateway.dunning_policy()
    return {"dunning": dunning_document(policy)} if policy is not None else {}


def agency_entry(uow: UnitOfWork, agency_id: str) -> dict[str, Any]:
    """The agency as it stands, without plans or sub-accounts."""
    agency, tenant = open_agency(uow, agency_id)
    override = tenant.wholesale.override()
    entry: dict[str, Any] = {
        "id": agency.id,
        "name": agency.name,
        "timezone": agency.timezone,
        "invoice_prefix": agency.invoice_prefix,
        "currency": agency.currency,
        "tax": {
            "mode": agency.tax.mode,
            "rate": str(agency.tax.rate_percent),
            "behavior": agency.tax.behavior,
            "label": agency.tax.label,
        },
        "credit_limit": (
            decimal_text(agency.credit_limit_micros)
            if agency.credit_limit_micros is not None
            else None
        ),
        "brand": brand_document(tenant.brand.get()),
    }
    prices = override.prices
    wholesale = wholesale_document(
        prices.voice, prices.number_monthly_micros, override.agency_monthly_fee_micros
    )
    if wholesale:
        entry["wholesale"] = wholesale
    policy = tenant.payments.dunning_policy()
    if policy is not None:
        entry["dunning"] = dunning_document(policy)
    return entry


def dunning_document(policy: DunningPolicy) -> dict[str, Any]:
    return {"retry_days": list(policy.retry_days), "grace_days": policy.grace_days}


def _limits(limits: Limits) -> dict[str, Any]:
    return {
        "campaigns": limits.campaigns,
        "numbers": limits.numbers,
        "parallel_calls": limits.parallel_calls,
    }


def plan_entry(plan: Plan) -> dict[str, Any]:
    return {
        "id": plan.id,
        "name": plan.name,
        "monthly_fee": decimal_text(plan.monthly_fee_micros),
        "included_minutes": plan.included_minutes,
        "overage": plan.overage,
        "voice": {
            d: {
                "overage_per_minute": rate_text(r),
                "increment": str(r.increment),
                "connect_fee": decimal_text(r.connect_fee_micros),
            }
            for d, r in plan.voice.items()
        },
        "numbers": {
            "included": plan.included_numbers,
            **{t: {"monthly": decimal_text(m)} for t, m in plan.number_monthly_micros.items()},
        },
        "limits": _limits(plan.limits),
    }


def caps_entry(caps: Caps) -> dict[str, Any] | None:
    if caps == Caps(wallet_alert_below_micros=caps.wallet_alert_below_micros):
        return None
    return {
        "monthly_spend": (
            decimal_text(caps.monthly_spend_micros)
            if caps.monthly_spend_micros is not None
            else None
        ),
        "monthly_minutes": caps.monthly_minutes,
        "alerts": [fraction_text(a) for a in caps.alerts],
        "enforcement": caps.enforcement,
    }


def sub_account_entry(sub: SubAccount, country: str | None, plan_id: str | None) -> dict[str, Any]:
    """The sub-account as it stands (its numbers are left out: a list given replaces them)."""
    identity = sub.tax_identity
    entry: dict[str, Any] = {
        "id": sub.id,
        "name": sub.name,
        "email": sub.email,
        "country": country or None,
        "tax_id": identity.tax_id,
        "address": list(identity.address_lines),
        "limits": _limits(sub.limits),
        "caps": caps_entry(sub.caps),
        "auto_top_up": (
            {
                "threshold": decimal_text(sub.top_up_threshold_micros),
                "amount": decimal_text(sub.top_up_amount_micros),
            }
            if sub.top_up_threshold_micros is not None and sub.top_up_amount_micros is not None
            else None
        ),
    }
    if plan_id is not None:
        entry["plan"] = plan_id
    return entry
