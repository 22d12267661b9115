"""Alerts (BILLING_MODEL §8): each (subject, metric, threshold, period) fires exactly once, as a
stored event delivered by e-mail and kept for the API and panel. Metrics: included minutes
used, spend cap, minutes cap, wallet below its threshold, agency credit limit."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from rebill.domain.account import Agency, SubAccount
from rebill.domain.caps import crossed_thresholds
from rebill.domain.money import format_micros_as_minor
from rebill.domain.plan import Plan
from rebill.domain.turns import round_robin
from rebill.domain.usage import PeriodUsage
from rebill.services.notifications.webhooks import emit
from rebill.services.ports import AgencyView, Alert, Mailer, UnitOfWorkFactory

LABELS = {
    "included_minutes": "included minutes used",
    "monthly_spend": "monthly spend cap",
    "monthly_minutes": "monthly minutes cap",
    "wallet_low": "credit balance below its threshold",
    "agency_credit_limit": "agency credit limit",
    "tax_not_ready": "online payment refused: Stripe Tax incomplete",
}


def _text(threshold: Fraction) -> str:
    exact = Decimal(threshold.numerator) / Decimal(threshold.denominator)
    return f"{exact.normalize():f}"


def check_sub_account(
    tenant: AgencyView,
    agency: Agency,
    sub: SubAccount,
    plan: Plan,
    period: str,
    usage: PeriodUsage,
    wallet_micros: int,
    now: datetime,
    before: PeriodUsage | None = None,
) -> list[Alert]:
    """Store the alerts this sub-account's counters have reached (only the thresholds crossed
    since `before`, when given); returns the new ones."""
    caps = sub.caps
    minutes_cap = caps.monthly_minutes * 60 if caps.monthly_minutes is not None else None
    was = before or PeriodUsage()
    measures: list[tuple[str, int, int, int | None]] = [
        (
            "included_minutes",
            usage.included_used_seconds,
            was.included_used_seconds,
            plan.included_seconds,
        ),
        ("monthly_spend", usage.overage_micros, was.overage_micros, caps.monthly_spend_micros),
        ("monthly_minutes", usage.billable_seconds, was.billable_seconds, minutes_cap),
    ]
    fired: list[Alert] = []
    recipients = tuple(r for r in (sub.email,) if r)
    for metric, used, used_before, limit in measures:
        if not limit:
            continue
        already = set(crossed_thresholds(used_before, limit, caps.alerts)) if before else set()
        for threshold in crossed_thresholds(used, limit, caps.alerts):
            if threshold in already:
                continue
            percent = _text(threshold * 100)
            alert = Alert(
                agency.id,
                sub.id,
                metric,
                str(threshold),
                period,
                f"{sub.name} reached {percent}% of its {LABELS[metric]} in {period}",
                recipients,
                now,
            )
            if tenant.alerts.add(alert):
                fired.append(alert)
                _announce(tenant, alert)
    threshold_micros = sub.top_up_threshold_micros
    if threshold_micros is not None and wallet_micros < threshold_micros:
        limit_text = format_micros_as_minor(threshold_micros, agency.currency)
        alert = Alert(
            agency.id,
            sub.id,
            "wallet_low",
            limit_text,
            period,
            f"{sub.name}'s credits are below {limit_text} {agency.currency}",
            recipients,
            now,
        )
        if tenant.alerts.add(alert):
            fired.append(alert)
            _announce(tenant, alert)
    return fired


def check_agency_limit(
    tenant: AgencyView,
    agency: Agency,
    period: str,
    exposure_micros: int,
    now: datetime,
    recipients: tuple[str, ...],
) -> Alert | None:
    limit = agency.credit_limit_micros
    if limit is None or exposure_micros < limit:
        return None
    text = format_micros_as_minor(limit, agency.currency)
    alert = Alert(
        agency.id,
        "",
        "agency_credit_limit",
        text,
        period,
        f"{agency.name} reached its credit limit of {text} {agency.currency}; its "
        "sub-accounts' new calls are refused",
        recipients,
        now,
    )
    if not tenant.alerts.add(alert):
        return None
    _announce(tenant, alert)
    return alert


def _announce(tenant: AgencyView, alert: Alert) -> None:
    """The alert as a webhook event (credits.low for a low wallet, else alert.fired)."""
    data = {
        "sub_account": alert.sub_account_id or None,
        "metric": alert.metric,
        "threshold": alert.threshold,
        "period": alert.period,
        "message": alert.message,
    }
    kind = "credits.low" if alert.metric == "wallet_low" else "alert.fired"
    emit(tenant.webhooks, kind, data, alert.fired_at)


def deliver_alerts(uow_factory: UnitOfWorkFactory, mailer: Mailer, now: datetime) -> int:
    """Send every undelivered alert that has recipients, each claimed and marked in its own
    transaction (so any number of runners send each alert once; one that fails to send
    leaves it pending). The agencies take turns (`round_robin`), so one agency's burst of
    alerts does not delay the others'."""
    with uow_factory() as uow:
        pending = [a for a in uow.platform.alerts.all(pending=True) if a.recipients]
    sent = 0
    for alert in round_robin(pending, lambda a: a.agency_id):
        with uow_factory() as uow:
            tenant = uow.for_agency(alert.agency_id)
            if not tenant.alerts.claim(alert, now):
                continue  # another runner has it
            agency = tenant.agency.get()
            brand = agency.name if agency else alert.agency_id
            mailer.send(
                alert.recipients,
                f"[{brand}] {LABELS[alert.metric]}: {alert.period}",
                f"{alert.message}.\n\nThis alert is sent once for this threshold and "
                f"period.\n-- {brand}",
            )
            uow.commit()
        sent += 1
    return sent
