"""`authorize_call`: may this sub-account start a call now, and for how long (BILLING_MODEL
§8)? A granted call with a `call_id` takes a parallel-call slot until its record arrives (same
`call_id`) or the slot expires. A call naming a `campaign_id` that would open a campaign
beyond the limit for the period is refused with `campaign_limit` (docs/campaigns.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from rebill.domain.account import SubAccount
from rebill.domain.campaign import campaign_decision
from rebill.domain.caps import AuthorizationInput, Decision, decide, refuse
from rebill.domain.charges import plan_at
from rebill.domain.errors import FieldError, NotFoundError, ValidationError
from rebill.domain.period import Period
from rebill.domain.plan import UNLIMITED, Plan
from rebill.domain.rating import DIRECTIONS
from rebill.services.accounts.tenant import open_agency
from rebill.services.notifications.alerts import check_agency_limit
from rebill.services.ports import AgencyView, PlatformView, UnitOfWorkFactory

# A slot whose call never reports back is freed after its longest allowed duration plus this;
# an unbounded call holds its slot for `slot_unbounded_seconds`.
slot_grace_seconds = 120
slot_unbounded_seconds = 4 * 3600
campaign_id_length_max = 100  # as in a call record


@dataclass(frozen=True)
class Authorization:
    decision: Decision
    call_id: str | None
    expires_at: datetime | None

    def document(self) -> dict[str, object]:
        d = self.decision
        return {
            "allowed": d.allowed,
            "max_duration_seconds": d.max_duration_seconds,
            "reason": d.reason,
            "call_id": self.call_id,
            "slot_expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


def authorize_call(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    sub_account_id: str,
    direction: str,
    call_id: str | None,
    now: datetime,
    campaign_id: str | None = None,
) -> Authorization:
    if direction not in DIRECTIONS:
        raise ValidationError(
            [
                FieldError(
                    "--direction",
                    f"unknown direction {direction!r} (inbound or outbound)",
                    "direction",
                )
            ]
        )
    _check_campaign_id(campaign_id)
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        period = str(Period.containing(now, agency.tz))
        snapshot = tenant.usage.authorization_snapshot(sub_account_id, period, now, call_id)
        if snapshot is None:
            raise NotFoundError(
                f"sub-account {sub_account_id!r} does not exist in agency {agency_id!r}"
            )
        history = tenant.plans.history_of(sub_account_id)
        plan = plan_at(history, now) or history[0].plan
        sub = snapshot.sub_account
        over_limit = False
        if agency.credit_limit_micros is not None:
            exposure = tenant.usage.exposure_micros()
            over_limit = exposure >= agency.credit_limit_micros
            if over_limit:
                recipients = _both_sides(uow.platform, tenant.brand.get().support_email)
                check_agency_limit(tenant, agency, period, exposure, now, recipients)
        limit = sub.limits.over(plan.limits).parallel_calls
        decision = decide(
            AuthorizationInput(
                state=sub.state,
                plan=plan,
                direction=direction,
                included_used_seconds=snapshot.included_used_seconds,
                billable_seconds=snapshot.billable_seconds,
                spent_micros=snapshot.spent_micros,
                wallet_micros=snapshot.wallet_micros,
                caps=sub.caps,
                parallel_calls_limit=UNLIMITED if limit is None else limit,
                active_calls=snapshot.active_calls,
                agency_over_credit_limit=over_limit,
            )
        )
        if decision.allowed and campaign_id:
            decision = _campaign_limit(tenant, sub, plan, period, campaign_id, decision)
        # Dunning (services/payments/dunning.py): an invoice unpaid past its grace period.
        unpaid = snapshot.dunning_hold if sub.state == "active" else None
        if unpaid:
            decision = refuse(unpaid)
        expires_at = None
        if decision.allowed and call_id:
            longest = decision.max_duration_seconds
            hold = slot_unbounded_seconds if longest is None else longest + slot_grace_seconds
            expires_at = now + timedelta(seconds=hold)
            tenant.usage.reserve_call(call_id, sub_account_id, expires_at)
        if expires_at is not None or over_limit:
            uow.commit()  # a slot or an alert was written; a pure decision writes nothing
    return Authorization(decision, call_id, expires_at)


def _check_campaign_id(campaign_id: str | None) -> None:
    if campaign_id is not None and not 0 < len(campaign_id) <= campaign_id_length_max:
        message = f"a campaign id has 1 to {campaign_id_length_max} characters"
        raise ValidationError([FieldError("--campaign-id", message, "campaign_id")])


def _campaign_limit(
    tenant: AgencyView, sub: SubAccount, plan: Plan, period: str, campaign: str, given: Decision
) -> Decision:
    """`campaign_limit` when the call would open a campaign beyond the sub-account's limit
    for the period; the decision as it was otherwise (docs/campaigns.md)."""
    limit = sub.limits.over(plan.limits).campaigns
    if limit is None or limit == UNLIMITED:
        return given
    found = tenant.campaigns.open_campaigns(sub.id, period, campaign)
    return campaign_decision(given, limit, found.count, found.includes_asked)


def _both_sides(platform: PlatformView, agency_email: str) -> tuple[str, ...]:
    """The platform's and the agency's support addresses: a credit limit alerts both."""
    emails = (platform.brand.get().support_email, agency_email)
    return tuple(e for e in emails if e)
