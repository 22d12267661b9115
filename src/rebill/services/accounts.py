"""Changing a sub-account's caps and state (who and when is recorded for states)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from rebill.domain.account import SUB_ACCOUNT_STATES, SubAccount
from rebill.domain.caps import ENFORCEMENTS, Caps
from rebill.domain.errors import FieldError, NotFoundError, ValidationError
from rebill.domain.money import format_micros_as_minor, parse_decimal, to_micros
from rebill.services.ports import Store, UnitOfWork
from rebill.services.webhooks import emit

CLEAR = "none"


def _sub(store: Store, agency_id: str, sub_account_id: str) -> SubAccount:
    if store.get_agency(agency_id) is None:
        raise NotFoundError(f"agency {agency_id!r} does not exist")
    sub = store.get_sub_account(agency_id, sub_account_id)
    if sub is None:
        raise NotFoundError(
            f"sub-account {sub_account_id!r} does not exist in agency {agency_id!r}"
        )
    return sub


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
        elif text.isdigit():
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
                value = Fraction(parse_decimal(part))
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
    uow: UnitOfWork,
    agency_id: str,
    sub_account_id: str,
    monthly_spend: str | None,
    monthly_minutes: str | None,
    alerts: str | None,
    enforcement: str | None,
) -> Caps:
    with uow:
        sub = _sub(uow.store, agency_id, sub_account_id)
        caps = parse_caps(sub.caps, monthly_spend, monthly_minutes, alerts, enforcement)
        uow.store.set_caps(agency_id, sub_account_id, caps)
        uow.commit()
    return caps


def set_state(
    uow: UnitOfWork,
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
    with uow:
        sub = _sub(uow.store, agency_id, sub_account_id)
        if sub.state == "closed" and state != "closed":
            raise ValidationError(
                [FieldError("--state", "a closed sub-account stays closed", "state")]
            )
        old = uow.store.set_state(agency_id, sub_account_id, state, actor, reason, now)
        if state == "suspended" and old != "suspended":
            emit(
                uow.store,
                agency_id,
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
