"""Changing a sub-account's caps and state (who and when is recorded for states)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from rebill.domain.account import SUB_ACCOUNT_STATES
from rebill.domain.caps import ENFORCEMENTS, Caps
from rebill.domain.errors import FieldError, ValidationError
from rebill.domain.money import (
    MICRO_DECIMALS,
    format_micros_as_minor,
    parse_decimal,
    places_needed,
    to_micros,
)
from rebill.domain.text import is_digits
from rebill.services.accounts.tenant import open_agency, require_sub_account
from rebill.services.catalog.apply import apply_catalog
from rebill.services.catalog.ownership import CatalogCaller
from rebill.services.notifications.webhooks import emit
from rebill.services.ports import AuditEntry, UnitOfWorkFactory

CLEAR = "none"


def parse_caps(
    current: Caps,
    monthly_spend: str | None,
    monthly_minutes: str | None,
    alerts: str | None,
    enforcement: str | None,
) -> Caps:
    """New caps from command-line text; every bad value is reported, nothing half-applied.
    `none` clears a cap."""
    errors: list[FieldError] = []
    spend, minutes = current.monthly_spend_micros, current.monthly_minutes
    thresholds, mode = current.alerts, current.enforcement
    if monthly_spend is not None:
        try:
            spend = None if monthly_spend == CLEAR else to_micros(monthly_spend)
            if spend is not None and spend < 0:
                raise ValueError("a cap cannot be below zero")
        except (TypeError, ValueError) as exc:
            errors.append(FieldError("--monthly-spend", str(exc), "monthly_spend"))
    if monthly_minutes is not None:
        text = monthly_minutes.strip()
        if text == CLEAR:
            minutes = None
        elif is_digits(text, 9):
            minutes = int(text)
        else:
            errors.append(
                FieldError(
                    "--monthly-minutes",
                    f"{text!r} is not a whole number of minutes at or above zero",
                    "monthly_minutes",
                )
            )
    if alerts is not None:
        parsed: list[Fraction] = []
        for part in (p.strip() for p in alerts.split(",") if p.strip()):
            try:
                number = parse_decimal(part)
                # the catalog's rule for a threshold: at most 6 decimals (1 µ of the limit)
                if places_needed(number) > MICRO_DECIMALS:
                    raise ValueError(f"{part[:40]} has more than {MICRO_DECIMALS} decimal places")
                value = Fraction(number)
            except (TypeError, ValueError) as exc:
                errors.append(FieldError("--alerts", str(exc), "alerts"))
                continue
            if not 0 < value <= 1:
                errors.append(FieldError("--alerts", f"{part} is outside (0, 1]", "alerts"))
            parsed.append(value)
        thresholds = tuple(sorted(set(parsed)))
    if enforcement is not None:
        if enforcement not in ENFORCEMENTS:
            errors.append(
                FieldError(
                    "--enforcement", f"{enforcement!r} is not block or notify", "enforcement"
                )
            )
        else:
            mode = enforcement
    if errors:
        raise ValidationError(errors, "invalid caps")
    return Caps(spend, minutes, thresholds, mode, current.wallet_alert_below_micros)


def set_caps(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    sub_account_id: str,
    monthly_spend: str | None,
    monthly_minutes: str | None,
    alerts: str | None,
    enforcement: str | None,
    actor: str,
    now: datetime,
) -> Caps:
    """Set caps (`none` clears one); each changed cap goes to the audit log."""
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        sub = require_sub_account(tenant, sub_account_id)
        caps = parse_caps(sub.caps, monthly_spend, monthly_minutes, alerts, enforcement)
        tenant.sub_accounts.set_caps(sub_account_id, caps)
        before = caps_document(sub.caps, agency.currency)
        for key, value in caps_document(caps, agency.currency).items():
            if before.get(key) != value:
                tenant.audit.add(
                    AuditEntry(
                        now,
                        actor,
                        f"sub-account {sub_account_id}",
                        f"caps.{key}",
                        _shown(before.get(key)),
                        _shown(value),
                    )
                )
        uow.commit()
    return caps


def _shown(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def set_auto_top_up(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    sub_account_id: str,
    threshold: str | None,
    amount: str | None,
    caller: CatalogCaller,
    now: datetime,
) -> None:
    """Turn a sub-account's automatic top-up on (both amounts) or off (neither), through the
    catalog's rules: bounded like a checkout purchase, only by callers that may move money."""
    if (threshold is None) != (amount is None):
        raise ValidationError(
            [FieldError("body", "give both threshold and amount, or neither", "amount")]
        )
    top_up = {"threshold": threshold, "amount": amount} if threshold is not None else None
    with uow_factory() as uow:
        _, tenant = open_agency(uow, agency_id)
        require_sub_account(tenant, sub_account_id)
    document = {
        "agencies": [
            {"id": agency_id, "sub_accounts": [{"id": sub_account_id, "auto_top_up": top_up}]}
        ]
    }
    apply_catalog(uow_factory, document, "auto_top_up", now, caller)


def set_tax_identity(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    sub_account_id: str,
    given: dict[str, object],
    caller: CatalogCaller,
    now: datetime,
) -> None:
    """Change a client's tax identity (`country`, `tax_id`, `address`: the keys given) through
    the catalog's rules: the same checks, the agency's fields, audited (docs/tax.md)."""
    with uow_factory() as uow:
        _, tenant = open_agency(uow, agency_id)
        require_sub_account(tenant, sub_account_id)
    document = {"agencies": [{"id": agency_id, "sub_accounts": [{"id": sub_account_id, **given}]}]}
    apply_catalog(uow_factory, document, "tax_identity", now, caller)


def set_state(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    sub_account_id: str,
    state: str,
    actor: str,
    reason: str,
    now: datetime,
) -> str:
    if state not in SUB_ACCOUNT_STATES:
        raise ValidationError(
            [
                FieldError(
                    "--state", f"{state!r} is not one of {', '.join(SUB_ACCOUNT_STATES)}", "state"
                )
            ]
        )
    with uow_factory() as uow:
        _, tenant = open_agency(uow, agency_id)
        sub = require_sub_account(tenant, sub_account_id)
        if sub.state == "closed" and state != "closed":
            raise ValidationError(
                [FieldError("--state", "a closed sub-account stays closed", "state")]
            )
        old = tenant.sub_accounts.set_state(sub_account_id, state, actor, reason, now)
        if state == "suspended" and old != "suspended":
            emit(
                tenant.webhooks,
                "sub_account.suspended",
                {"sub_account": sub_account_id, "by": actor, "reason": reason},
                now,
            )
        uow.commit()
    return old


def caps_document(caps: Caps, currency: str) -> dict[str, object]:
    return {
        "monthly_spend": (
            format_micros_as_minor(caps.monthly_spend_micros, currency)
            if caps.monthly_spend_micros is not None
            else None
        ),
        "monthly_minutes": caps.monthly_minutes,
        "alerts": [str(Decimal(a.numerator) / Decimal(a.denominator)) for a in caps.alerts],
        "enforcement": caps.enforcement,
    }
