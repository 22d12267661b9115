"""The SQL store: reads domain values out of rows and writes rows from domain values, inside
one unit of work (a SQLAlchemy session that rolls back unless committed)."""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from types import TracebackType
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from rebill.adapters.db.domains import SqlDomainRepository
from rebill.adapters.db.link_state import SqlLinkStates
from rebill.adapters.db.rows import (
    AgencyRow,
    AgencyUsageRow,
    AlertRow,
    ApiKeyRow,
    AuditEntryRow,
    CallReservationRow,
    CallRow,
    CheckoutRow,
    CustomDomainRow,
    GatewayCustomerRow,
    GatewayEventRow,
    GatewayLinkRow,
    IdempotencyRow,
    InvoiceLineRow,
    InvoiceRow,
    InvoiceSequenceRow,
    JournalEntryRow,
    PaymentRow,
    PeriodCampaignRow,
    PeriodCloseRow,
    PeriodUsageRow,
    PhoneNumberRow,
    PlanRow,
    PlanVoiceRateRow,
    PlatformRow,
    PostingRow,
    RefundRow,
    SignInThrottleRow,
    StateChangeRow,
    SubAccountRow,
    SubscriptionRow,
    TopUpRequestRow,
    UsageCounterRow,
    WalletRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
    WebSessionRow,
    WebUserRow,
    WholesaleNumberPriceRow,
    WholesaleVoiceRateRow,
)
from rebill.domain.account import Agency, Brand, Platform, SubAccount
from rebill.domain.caps import Caps
from rebill.domain.charges import HeldNumber, PlanChange
from rebill.domain.gateway import PaymentAttempt, SavedCard
from rebill.domain.invoice import InvoiceDraft, invoice_number, series_prefix
from rebill.domain.ledger import JournalEntry
from rebill.domain.money import micros_per_minor
from rebill.domain.plan import Limits, Plan, WholesaleCard
from rebill.domain.rating import Increment, VoiceRate
from rebill.domain.tax import TaxPolicy
from rebill.domain.usage import PeriodUsage
from rebill.services.ports import (
    Alert,
    AuthorizationSnapshot,
    CallTotals,
    RatedCall,
    StoredInvoice,
    StoredLine,
)

PLATFORM_ID = "platform"
CALL_COLUMNS = (
    "agency_id",
    "call_id",
    "sub_account_id",
    "started_at",
    "duration_seconds",
    "direction",
    "campaign_id",
    "phone_number",
    "status",
    "period",
    "late",
    "retail_billable_seconds",
    "included_seconds",
    "credit_micros",
    "postpaid_micros",
    "postpaid_seconds_e6",
    "retail_rate_micros",
    "retail_rate_decimals",
    "wholesale_billable_seconds",
    "wholesale_cost_micros",
)
call_insert_batch_max = 5_000


def _voice(row: WholesaleVoiceRateRow | PlanVoiceRateRow) -> VoiceRate:
    return VoiceRate(
        per_minute_micros=row.per_minute_micros,
        increment=Increment(row.increment_first_seconds, row.increment_step_seconds),
        connect_fee_micros=row.connect_fee_micros,
        per_minute_decimals=row.per_minute_decimals,
    )


def _sub_account(row: SubAccountRow) -> SubAccount:
    caps = Caps(
        row.cap_monthly_spend_micros,
        row.cap_monthly_minutes,
        tuple(Fraction(Decimal(a)) for a in json.loads(row.cap_alerts or "[]")),
        row.cap_enforcement,
    )
    return SubAccount(
        row.agency_id,
        row.id,
        row.name,
        row.email,
        row.state,
        Limits(row.limit_campaigns, row.limit_numbers, row.limit_parallel_calls),
        caps,
        row.top_up_threshold_micros,
        row.top_up_amount_micros,
    )


def _plan(row: PlanRow, voice: dict[str, VoiceRate]) -> Plan:
    return Plan(
        id=row.id,
        name=row.name,
        monthly_fee_micros=row.monthly_fee_micros,
        included_minutes=row.included_minutes,
        overage=row.overage,
        voice=voice,
        included_numbers=row.included_numbers,
        number_monthly_micros={
            "local": row.local_monthly_micros,
            "toll_free": row.toll_free_monthly_micros,
        },
        limits=Limits(row.limit_campaigns, row.limit_numbers, row.limit_parallel_calls),
    )


def _write_caps(row: SubAccountRow, caps: Caps) -> None:
    row.cap_monthly_spend_micros = caps.monthly_spend_micros
    row.cap_monthly_minutes = caps.monthly_minutes
    row.cap_alerts = json.dumps(
        [str(Decimal(a.numerator) / Decimal(a.denominator)) for a in caps.alerts]
    )
    row.cap_enforcement = caps.enforcement


def _voice_columns(rate: VoiceRate) -> dict[str, int]:
    return {
        "per_minute_micros": rate.per_minute_micros,
        "per_minute_decimals": rate.per_minute_decimals,
        "increment_first_seconds": rate.increment.first_seconds,
        "increment_step_seconds": rate.increment.step_seconds,
        "connect_fee_micros": rate.connect_fee_micros,
    }


class SqlStore:
    """Repository methods over one session. Every write joins the unit of work's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- platform and wholesale -------------------------------------------------------------
    def get_platform(self) -> Platform | None:
        row = self.session.get(PlatformRow, PLATFORM_ID)
        return Platform(row.name, row.currency, row.invoice_prefix) if row else None

    def brand(self, agency_id: str | None) -> Brand:
        """The agency's brand (the platform's when `agency_id` is None)."""
        row: PlatformRow | AgencyRow | None
        if agency_id is None:
            row = self.session.get(PlatformRow, PLATFORM_ID)
        else:
            row = self.session.get(AgencyRow, agency_id)
        if row is None:
            raise LookupError(agency_id)
        data = json.loads(row.brand_json or "{}")
        logo = data.get("logo_png")
        return Brand(
            display_name=data.get("display_name") or row.name,
            colour=data.get("colour", "#1f6feb"),
            support_email=data.get("support_email", ""),
            address_lines=tuple(data.get("address", [])),
            country=data.get("country", "US"),
            tax_id=data.get("tax_id"),
            domain=self._active_domain(agency_id) if agency_id is not None else None,
            logo_png=base64.b64decode(logo) if logo else None,
        )

    def save_brand(self, agency_id: str | None, brand: Brand) -> None:
        row: PlatformRow | AgencyRow | None
        if agency_id is None:
            row = self.session.get(PlatformRow, PLATFORM_ID)
        else:
            row = self.session.get(AgencyRow, agency_id)
        assert row is not None
        row.brand_json = json.dumps(
            {
                "display_name": brand.display_name,
                "colour": brand.colour,
                "support_email": brand.support_email,
                "address": list(brand.address_lines),
                "country": brand.country,
                "tax_id": brand.tax_id,
                "logo_png": base64.b64encode(brand.logo_png).decode() if brand.logo_png else None,
            }
        )
        self.session.flush()

    def _active_domain(self, agency_id: str) -> str | None:
        return self.session.scalar(
            select(CustomDomainRow.domain).where(
                CustomDomainRow.agency_id == agency_id, CustomDomainRow.status == "active"
            )
        )

    def agency_for_domain(self, domain: str) -> str | None:
        """The agency whose active custom domain `domain` is (one indexed look-up)."""
        return self.session.scalar(
            select(CustomDomainRow.agency_id).where(CustomDomainRow.active_domain == domain)
        )

    def get_platform_fee_micros(self) -> int:
        row = self.session.get(PlatformRow, PLATFORM_ID)
        return row.agency_monthly_fee_micros if row else 0

    def save_platform(self, platform: Platform, agency_monthly_fee_micros: int | None) -> None:
        row = self.session.get(PlatformRow, PLATFORM_ID)
        if row is None:
            row = PlatformRow(id=PLATFORM_ID, agency_monthly_fee_micros=0)
            self.session.add(row)
        row.name, row.currency = platform.name, platform.currency
        row.invoice_prefix = platform.invoice_prefix
        if agency_monthly_fee_micros is not None:
            row.agency_monthly_fee_micros = agency_monthly_fee_micros

    def save_wholesale(
        self, scope: str, voice: dict[str, VoiceRate], numbers: dict[str, int]
    ) -> None:
        for direction, rate in voice.items():
            self.session.merge(
                WholesaleVoiceRateRow(scope=scope, direction=direction, **_voice_columns(rate))
            )
        for number_type, micros in numbers.items():
            self.session.merge(
                WholesaleNumberPriceRow(scope=scope, number_type=number_type, monthly_micros=micros)
            )

    def wholesale_card(self, agency_id: str) -> WholesaleCard:
        """The platform's card with the agency's overrides on top."""
        voice: dict[str, VoiceRate] = {}
        numbers: dict[str, int] = {}
        for scope in ("", agency_id):
            for vrow in self.session.scalars(
                select(WholesaleVoiceRateRow).where(WholesaleVoiceRateRow.scope == scope)
            ):
                voice[vrow.direction] = _voice(vrow)
            for nrow in self.session.scalars(
                select(WholesaleNumberPriceRow).where(WholesaleNumberPriceRow.scope == scope)
            ):
                numbers[nrow.number_type] = nrow.monthly_micros
        agency = self.session.get(AgencyRow, agency_id)
        fee = agency.agency_monthly_fee_micros if agency else None
        if fee is None:
            fee = self.get_platform_fee_micros()
        return WholesaleCard(voice, numbers, fee)

    # -- agencies, plans, sub-accounts ------------------------------------------------------
    def get_agency(self, agency_id: str) -> Agency | None:
        row = self.session.get(AgencyRow, agency_id)
        if row is None:
            return None
        tax = TaxPolicy(
            row.tax_mode, Decimal(row.tax_rate_percent), row.tax_behavior, row.tax_label
        )
        return Agency(
            row.id,
            row.name,
            row.timezone,
            row.invoice_prefix,
            row.currency,
            tax,
            row.credit_limit_micros,
        )

    def list_agency_ids(self) -> list[str]:
        return list(self.session.scalars(select(AgencyRow.id).order_by(AgencyRow.id)))

    def prefix_issued(self, prefix: str) -> bool:
        """Whether any document was ever numbered in one of `prefix`'s series."""
        series = [series_prefix(prefix, kind) for kind in ("retail", "receipt", "credit_note")]
        return bool(
            self.session.scalar(
                select(func.count())
                .select_from(InvoiceSequenceRow)
                .where(InvoiceSequenceRow.series.in_(series), InvoiceSequenceRow.last_value > 0)
            )
        )

    def agency_with_prefix(self, prefix: str) -> str | None:
        return self.session.scalar(select(AgencyRow.id).where(AgencyRow.invoice_prefix == prefix))

    def save_agency(
        self, agency: Agency, agency_monthly_fee_micros: int | None, now: datetime
    ) -> None:
        row = self.session.get(AgencyRow, agency.id)
        if row is None:
            row = AgencyRow(id=agency.id, created_at=now)
            self.session.add(row)
        row.name, row.timezone = agency.name, agency.timezone
        row.invoice_prefix = agency.invoice_prefix
        row.currency = agency.currency
        row.tax_mode, row.tax_behavior, row.tax_label = (
            agency.tax.mode,
            agency.tax.behavior,
            agency.tax.label,
        )
        row.tax_rate_percent = str(agency.tax.rate_percent)
        row.credit_limit_micros = agency.credit_limit_micros
        if agency_monthly_fee_micros is not None:  # an override given; else the stored one
            row.agency_monthly_fee_micros = agency_monthly_fee_micros
        self.session.flush()

    def save_plan(self, agency_id: str, plan: Plan) -> None:
        self.session.merge(
            PlanRow(
                agency_id=agency_id,
                id=plan.id,
                name=plan.name,
                monthly_fee_micros=plan.monthly_fee_micros,
                included_minutes=plan.included_minutes,
                overage=plan.overage,
                included_numbers=plan.included_numbers,
                local_monthly_micros=plan.number_monthly_micros.get("local", 0),
                toll_free_monthly_micros=plan.number_monthly_micros.get("toll_free", 0),
                limit_campaigns=plan.limits.campaigns if plan.limits.campaigns is not None else -1,
                limit_numbers=plan.limits.numbers if plan.limits.numbers is not None else -1,
                limit_parallel_calls=(
                    plan.limits.parallel_calls if plan.limits.parallel_calls is not None else -1
                ),
            )
        )
        self.session.flush()
        for direction, rate in plan.voice.items():
            self.session.merge(
                PlanVoiceRateRow(
                    agency_id=agency_id,
                    plan_id=plan.id,
                    direction=direction,
                    **_voice_columns(rate),
                )
            )

    def plans(self, agency_id: str, ids: set[str] | None = None) -> dict[str, Plan]:
        voice: dict[str, dict[str, VoiceRate]] = defaultdict(dict)
        vquery = select(PlanVoiceRateRow).where(PlanVoiceRateRow.agency_id == agency_id)
        pquery = select(PlanRow).where(PlanRow.agency_id == agency_id)
        if ids is not None:
            vquery = vquery.where(PlanVoiceRateRow.plan_id.in_(sorted(ids)))
            pquery = pquery.where(PlanRow.id.in_(sorted(ids)))
        for vrow in self.session.scalars(vquery):
            voice[vrow.plan_id][vrow.direction] = _voice(vrow)
        result: dict[str, Plan] = {}
        for row in self.session.scalars(pquery):
            result[row.id] = _plan(row, voice[row.id])
        return result

    def get_sub_account(self, agency_id: str, sub_account_id: str) -> SubAccount | None:
        row = self.session.get(SubAccountRow, (agency_id, sub_account_id))
        return _sub_account(row) if row else None

    def sub_accounts(self, agency_id: str, ids: set[str] | None = None) -> dict[str, SubAccount]:
        query = select(SubAccountRow).where(SubAccountRow.agency_id == agency_id)
        if ids is not None:
            query = query.where(SubAccountRow.id.in_(sorted(ids)))
        rows = self.session.scalars(query)
        return {row.id: _sub_account(row) for row in rows}

    def sub_account_ids(self, agency_id: str) -> list[str]:
        return list(
            self.session.scalars(
                select(SubAccountRow.id)
                .where(SubAccountRow.agency_id == agency_id)
                .order_by(SubAccountRow.id)
            )
        )

    def sub_account_countries(self, agency_id: str) -> dict[str, str]:
        """Each sub-account's billing country (where Stripe Tax places the sale)."""
        rows = self.session.execute(
            select(SubAccountRow.id, SubAccountRow.country).where(
                SubAccountRow.agency_id == agency_id
            )
        )
        return {sub_id: country for sub_id, country in rows}

    def save_sub_account(self, sub: SubAccount, country: str, now: datetime) -> None:
        row = self.session.get(SubAccountRow, (sub.agency_id, sub.id))
        if row is None:
            row = SubAccountRow(agency_id=sub.agency_id, id=sub.id, created_at=now, state=sub.state)
            self.session.add(row)
        row.name, row.email, row.country = sub.name, sub.email, country
        row.limit_campaigns = sub.limits.campaigns
        row.limit_numbers = sub.limits.numbers
        row.limit_parallel_calls = sub.limits.parallel_calls
        _write_caps(row, sub.caps)
        row.top_up_threshold_micros = sub.top_up_threshold_micros
        row.top_up_amount_micros = sub.top_up_amount_micros
        self.session.flush()

    def set_caps(self, agency_id: str, sub_account_id: str, caps: Caps) -> None:
        row = self.session.get(SubAccountRow, (agency_id, sub_account_id))
        assert row is not None
        _write_caps(row, caps)
        self.session.flush()

    def set_state(
        self, agency_id: str, sub_account_id: str, state: str, actor: str, reason: str, at: datetime
    ) -> str:
        """Change a sub-account's state, recording who and when; returns the old state."""
        row = self.session.get(SubAccountRow, (agency_id, sub_account_id), with_for_update=True)
        assert row is not None
        old = row.state
        row.state = state
        latest = self.session.scalar(
            select(func.max(StateChangeRow.changed_at)).where(
                StateChangeRow.agency_id == agency_id,
                StateChangeRow.sub_account_id == sub_account_id,
            )
        )
        if latest is not None:  # stored naive; keep the history strictly ordered
            latest = latest.replace(tzinfo=UTC) if latest.tzinfo is None else latest
            if latest >= at:
                at = latest + timedelta(microseconds=1)
        self.session.add(
            StateChangeRow(
                agency_id=agency_id,
                sub_account_id=sub_account_id,
                changed_at=at,
                from_state=old,
                to_state=state,
                actor=actor,
                reason=reason,
            )
        )
        self.session.flush()
        return old

    def state_changes(self, agency_id: str, sub_account_id: str) -> list[dict[str, Any]]:
        rows = self.session.scalars(
            select(StateChangeRow)
            .where(
                StateChangeRow.agency_id == agency_id,
                StateChangeRow.sub_account_id == sub_account_id,
            )
            .order_by(StateChangeRow.changed_at)
        )
        return [
            {
                "at": r.changed_at.isoformat(),
                "from": r.from_state,
                "to": r.to_state,
                "by": r.actor,
                "reason": r.reason,
            }
            for r in rows
        ]

    # -- authorization ----------------------------------------------------------------------
    def authorization_snapshot(
        self,
        agency_id: str,
        sub_account_id: str,
        period: str,
        now: datetime,
        call_id: str | None = None,
    ) -> AuthorizationSnapshot | None:
        """The sub-account, its period counters, wallet and active calls (other than
        `call_id`'s own slot) in one statement."""
        active = (
            select(func.count())
            .select_from(CallReservationRow)
            .where(
                CallReservationRow.agency_id == agency_id,
                CallReservationRow.sub_account_id == sub_account_id,
                CallReservationRow.expires_at > now,
                CallReservationRow.call_id != (call_id or ""),
            )
            .scalar_subquery()
        )
        query = (
            select(
                SubAccountRow,
                UsageCounterRow.billable_seconds,
                UsageCounterRow.included_used_seconds,
                UsageCounterRow.credit_micros,
                UsageCounterRow.postpaid_micros,
                WalletRow.balance_micros,
                active,
            )
            .outerjoin(
                UsageCounterRow,
                and_(
                    UsageCounterRow.agency_id == SubAccountRow.agency_id,
                    UsageCounterRow.sub_account_id == SubAccountRow.id,
                    UsageCounterRow.period == period,
                ),
            )
            .outerjoin(
                WalletRow,
                and_(
                    WalletRow.agency_id == SubAccountRow.agency_id,
                    WalletRow.sub_account_id == SubAccountRow.id,
                ),
            )
            .where(SubAccountRow.agency_id == agency_id, SubAccountRow.id == sub_account_id)
        )
        row = self.session.execute(query).first()
        if row is None:
            return None
        sub_row, billable, included, credit, postpaid, wallet, calls = row
        return AuthorizationSnapshot(
            _sub_account(sub_row),
            int(billable or 0),
            int(included or 0),
            int(credit or 0) + int(postpaid or 0),
            int(wallet or 0),
            int(calls or 0),
        )

    def reserve_call(
        self, agency_id: str, call_id: str, sub_account_id: str, expires_at: datetime
    ) -> None:
        self.session.merge(
            CallReservationRow(
                agency_id=agency_id,
                call_id=call_id,
                sub_account_id=sub_account_id,
                expires_at=expires_at,
            )
        )
        self.session.flush()

    def release_calls(self, agency_id: str, call_ids: Sequence[str]) -> None:
        for start in range(0, len(call_ids), 500):
            self.session.execute(
                delete(CallReservationRow).where(
                    CallReservationRow.agency_id == agency_id,
                    CallReservationRow.call_id.in_(call_ids[start : start + 500]),
                )
            )

    def add_agency_usage(self, agency_id: str, micros_by_period: dict[str, int]) -> None:
        for label, micros in micros_by_period.items():
            row = self.session.get(AgencyUsageRow, (agency_id, label), with_for_update=True)
            if row is None:
                self.session.add(
                    AgencyUsageRow(agency_id=agency_id, period=label, wholesale_micros=micros)
                )
            else:
                row.wholesale_micros += micros
        self.session.flush()

    def agency_exposure_micros(self, agency_id: str) -> int:
        """Unpaid wholesale: open wholesale invoices plus what open periods have accrued."""
        invoiced = self.session.scalar(
            select(func.coalesce(func.sum(InvoiceRow.total_minor), 0)).where(
                InvoiceRow.agency_id == agency_id,
                InvoiceRow.kind == "wholesale",
                InvoiceRow.status == "open",
            )
        )
        currency = (
            self.session.scalar(select(AgencyRow.currency).where(AgencyRow.id == agency_id))
            or "USD"
        )
        closed = select(PeriodCloseRow.period).where(PeriodCloseRow.agency_id == agency_id)
        accrued = self.session.scalar(
            select(func.coalesce(func.sum(AgencyUsageRow.wholesale_micros), 0)).where(
                AgencyUsageRow.agency_id == agency_id, AgencyUsageRow.period.not_in(closed)
            )
        )
        return int(invoiced or 0) * micros_per_minor(currency) + int(accrued or 0)

    # -- alerts and top-ups -----------------------------------------------------------------
    def add_alert(self, alert: Alert) -> bool:
        """Store an alert unless it already fired; True if it is new."""
        key = (alert.agency_id, alert.sub_account_id, alert.metric, alert.threshold, alert.period)
        if self.session.get(AlertRow, key) is not None:
            return False
        self.session.add(
            AlertRow(
                agency_id=alert.agency_id,
                sub_account_id=alert.sub_account_id,
                metric=alert.metric,
                threshold=alert.threshold,
                period=alert.period,
                message=alert.message[:500],
                recipients=",".join(alert.recipients)[:500],
                fired_at=alert.fired_at,
                delivered_at=None,
            )
        )
        self.session.flush()
        return True

    def alerts(self, agency_id: str | None = None, pending: bool = False) -> list[Alert]:
        query = select(AlertRow)
        if agency_id:
            query = query.where(AlertRow.agency_id == agency_id)
        if pending:
            query = query.where(AlertRow.delivered_at.is_(None))
        rows = self.session.scalars(
            query.order_by(AlertRow.fired_at, AlertRow.metric, AlertRow.threshold)
        )
        return [
            Alert(
                r.agency_id,
                r.sub_account_id,
                r.metric,
                r.threshold,
                r.period,
                r.message,
                tuple(x for x in r.recipients.split(",") if x),
                r.fired_at,
                r.delivered_at,
            )
            for r in rows
        ]

    def mark_alert_delivered(self, alert: Alert, at: datetime) -> None:
        row = self.session.get(
            AlertRow,
            (alert.agency_id, alert.sub_account_id, alert.metric, alert.threshold, alert.period),
        )
        assert row is not None
        row.delivered_at = at
        self.session.flush()

    def add_top_up_request(
        self,
        agency_id: str,
        sub_account_id: str,
        trigger_key: str,
        amount_micros: int,
        provider: str,
        at: datetime,
    ) -> bool:
        pending = self.session.scalar(
            select(func.count())
            .select_from(TopUpRequestRow)
            .where(
                TopUpRequestRow.agency_id == agency_id,
                TopUpRequestRow.sub_account_id == sub_account_id,
                TopUpRequestRow.status == "pending",
            )
        )
        if pending or self.session.get(TopUpRequestRow, (agency_id, sub_account_id, trigger_key)):
            return False
        self.session.add(
            TopUpRequestRow(
                agency_id=agency_id,
                sub_account_id=sub_account_id,
                trigger_key=trigger_key,
                amount_micros=amount_micros,
                provider=provider,
                status="pending",
                requested_at=at,
            )
        )
        self.session.flush()
        return True

    def top_ups_since(self, agency_id: str, sub_account_id: str, since: datetime) -> int:
        """How many automatic top-ups of a sub-account were requested at or after `since`."""
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(TopUpRequestRow)
                .where(
                    TopUpRequestRow.agency_id == agency_id,
                    TopUpRequestRow.sub_account_id == sub_account_id,
                    TopUpRequestRow.requested_at >= since,
                )
            )
            or 0
        )

    def top_up_requests(self, agency_id: str) -> list[dict[str, Any]]:
        rows = self.session.scalars(
            select(TopUpRequestRow)
            .where(TopUpRequestRow.agency_id == agency_id)
            .order_by(TopUpRequestRow.requested_at)
        )
        return [
            {
                "sub_account": r.sub_account_id,
                "trigger": r.trigger_key,
                "amount_micros": r.amount_micros,
                "provider": r.provider,
                "status": r.status,
                "requested_at": r.requested_at,
                "idempotency_key": r.idempotency_key,
                "receipt": r.receipt,
                "message": r.message,
                "charged_tax_minor": r.charged_tax_minor,
            }
            for r in rows
        ]

    def top_up_request(
        self, agency_id: str, sub_account_id: str, trigger_key: str
    ) -> dict[str, Any] | None:
        """One top-up request, locked until the transaction ends."""
        row = self.session.get(
            TopUpRequestRow, (agency_id, sub_account_id, trigger_key), with_for_update=True
        )
        if row is None:
            return None
        return {
            "status": row.status,
            "idempotency_key": row.idempotency_key,
            "receipt": row.receipt,
            "charged_tax_minor": row.charged_tax_minor,
        }

    def update_top_up(
        self,
        agency_id: str,
        sub_account_id: str,
        trigger_key: str,
        status: str,
        idempotency_key: str | None,
        receipt: str | None = None,
        message: str | None = None,
        charged_tax_minor: int | None = None,
    ) -> None:
        row = self.session.get(
            TopUpRequestRow, (agency_id, sub_account_id, trigger_key), with_for_update=True
        )
        assert row is not None, trigger_key
        row.status, row.idempotency_key = status, idempotency_key
        row.receipt, row.message = receipt, message and message[:300]
        if charged_tax_minor is not None:
            row.charged_tax_minor = charged_tax_minor
        self.session.flush()

    # -- plan history and numbers -----------------------------------------------------------
    def plan_history(
        self, agency_id: str, plans: dict[str, Plan], subs: set[str] | None = None
    ) -> dict[str, list[PlanChange]]:
        """Plan histories of the agency's sub-accounts (of `subs` only, when given)."""
        history: dict[str, list[PlanChange]] = defaultdict(list)
        query = select(SubscriptionRow).where(SubscriptionRow.agency_id == agency_id)
        if subs is not None:
            query = query.where(SubscriptionRow.sub_account_id.in_(sorted(subs)))
        for row in self.session.scalars(
            query.order_by(SubscriptionRow.sub_account_id, SubscriptionRow.effective_at)
        ):
            history[row.sub_account_id].append(
                PlanChange(row.effective_at, plans[row.plan_id], row.change)
            )
        return history

    def plan_history_of(self, agency_id: str, sub_account_id: str) -> list[PlanChange]:
        """One sub-account's plan history with its plans and their rates, in one query (the
        authorization path reads it for every call)."""
        query = (
            select(SubscriptionRow, PlanRow, PlanVoiceRateRow)
            .join(
                PlanRow,
                and_(
                    PlanRow.agency_id == SubscriptionRow.agency_id,
                    PlanRow.id == SubscriptionRow.plan_id,
                ),
            )
            .outerjoin(
                PlanVoiceRateRow,
                and_(
                    PlanVoiceRateRow.agency_id == PlanRow.agency_id,
                    PlanVoiceRateRow.plan_id == PlanRow.id,
                ),
            )
            .where(
                SubscriptionRow.agency_id == agency_id,
                SubscriptionRow.sub_account_id == sub_account_id,
            )
            .order_by(SubscriptionRow.effective_at)
        )
        changes: dict[datetime, tuple[SubscriptionRow, PlanRow]] = {}
        voice: dict[str, dict[str, VoiceRate]] = defaultdict(dict)
        for change, plan_row, rate in self.session.execute(query).tuples():
            changes[change.effective_at] = (change, plan_row)
            if rate is not None:
                voice[plan_row.id][rate.direction] = _voice(rate)
        plans = {
            plan_row.id: _plan(plan_row, voice[plan_row.id]) for _, plan_row in changes.values()
        }
        return [
            PlanChange(change.effective_at, plans[plan_row.id], change.change)
            for change, plan_row in changes.values()
        ]

    def add_plan_change(
        self, agency_id: str, sub_account_id: str, change: PlanChange, now: datetime
    ) -> None:
        self.session.add(
            SubscriptionRow(
                agency_id=agency_id,
                sub_account_id=sub_account_id,
                effective_at=change.effective_at,
                plan_id=change.plan.id,
                change=change.change,
                recorded_at=now,
            )
        )
        self.session.flush()

    def drop_future_changes(self, agency_id: str, sub_account_id: str, after: datetime) -> None:
        """Forget scheduled changes (a pending downgrade) that a newer change supersedes."""
        for row in self.session.scalars(
            select(SubscriptionRow).where(
                SubscriptionRow.agency_id == agency_id,
                SubscriptionRow.sub_account_id == sub_account_id,
                SubscriptionRow.effective_at > after,
            )
        ):
            self.session.delete(row)
        self.session.flush()

    def numbers(self, agency_id: str) -> dict[str, list[HeldNumber]]:
        result: dict[str, list[HeldNumber]] = defaultdict(list)
        for row in self.session.scalars(
            select(PhoneNumberRow)
            .where(PhoneNumberRow.agency_id == agency_id)
            .order_by(PhoneNumberRow.rented_at, PhoneNumberRow.e164)
        ):
            result[row.sub_account_id].append(
                HeldNumber(row.e164, row.number_type, row.rented_at, row.released_at)
            )
        return result

    def numbers_of(self, agency_id: str, sub_account_id: str) -> list[HeldNumber]:
        rows = self.session.scalars(
            select(PhoneNumberRow)
            .where(
                PhoneNumberRow.agency_id == agency_id,
                PhoneNumberRow.sub_account_id == sub_account_id,
            )
            .order_by(PhoneNumberRow.rented_at, PhoneNumberRow.e164)
        )
        return [HeldNumber(r.e164, r.number_type, r.rented_at, r.released_at) for r in rows]

    def number_holder(self, agency_id: str, e164: str) -> str | None:
        return self.session.scalar(
            select(PhoneNumberRow.sub_account_id).where(
                PhoneNumberRow.agency_id == agency_id,
                PhoneNumberRow.e164 == e164,
                PhoneNumberRow.released_at.is_(None),
            )
        )

    def add_number(self, agency_id: str, sub_account_id: str, number: HeldNumber) -> None:
        self.session.add(
            PhoneNumberRow(
                agency_id=agency_id,
                e164=number.e164,
                rented_at=number.rented_at,
                sub_account_id=sub_account_id,
                number_type=number.number_type,
                released_at=number.released_at,
            )
        )
        self.session.flush()

    def release_number(self, agency_id: str, number: HeldNumber, at: datetime) -> None:
        row = self.session.get(PhoneNumberRow, (agency_id, number.e164, number.rented_at))
        assert row is not None
        row.released_at = at
        self.session.flush()

    # -- calls, usage counters, wallets -----------------------------------------------------
    def lock_agency(self, agency_id: str, exclusive: bool) -> None:
        """Serialize a close (exclusive) against imports (shared) of one agency. On SQLite
        every write transaction is already exclusive (BEGIN IMMEDIATE)."""
        if self.session.get_bind().dialect.name == "sqlite":
            return
        query = select(AgencyRow.id).where(AgencyRow.id == agency_id)
        self.session.execute(query.with_for_update(read=not exclusive))

    def existing_call_ids(self, agency_id: str, call_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(call_ids), 500):
            chunk = call_ids[start : start + 500]
            found.update(
                self.session.scalars(
                    select(CallRow.call_id).where(
                        CallRow.agency_id == agency_id, CallRow.call_id.in_(chunk)
                    )
                )
            )
        return found

    def insert_calls(self, agency_id: str, calls: Sequence[RatedCall]) -> None:
        """Bulk insert straight through the driver's executemany (the import's hot path):
        timestamps are written exactly as the `UtcDateTime` column stores them."""
        connection = self.session.connection()
        dialect = connection.dialect
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        sql = (
            f"INSERT INTO calls ({', '.join(CALL_COLUMNS)}) "
            f"VALUES ({', '.join([marker] * len(CALL_COLUMNS))})"
        )
        as_text = dialect.name == "sqlite"
        for start in range(0, len(calls), call_insert_batch_max):
            rows = []
            for rated in calls[start : start + call_insert_batch_max]:
                c, f = rated.call, rated.funding
                at = c.started_at.astimezone(UTC).replace(tzinfo=None)
                stamp: object = f"{at:%Y-%m-%d %H:%M:%S}.{at.microsecond:06d}" if as_text else at
                rows.append(
                    (
                        agency_id,
                        c.call_id,
                        c.sub_account_id,
                        stamp,
                        c.duration_seconds,
                        c.direction,
                        c.campaign_id,
                        c.phone_number,
                        c.status,
                        rated.period,
                        int(rated.late),
                        f.billable_seconds,
                        f.included_seconds,
                        f.credit_micros,
                        f.postpaid_micros,
                        f.postpaid_seconds_e6,
                        f.rate_micros,
                        f.rate_decimals,
                        rated.wholesale_billable_seconds,
                        rated.wholesale_cost_micros,
                    )
                )
            connection.exec_driver_sql(sql, rows)

    def usage_counters(
        self,
        agency_id: str,
        period: str | None = None,
        keys: Iterable[tuple[str, str]] | None = None,
        for_update: bool = False,
    ) -> dict[tuple[str, str], PeriodUsage]:
        """Counters by (sub-account, period): of one period, or of the keys given (locked)."""
        query = select(UsageCounterRow).where(UsageCounterRow.agency_id == agency_id)
        if period is not None:
            query = query.where(UsageCounterRow.period == period)
        if keys is not None:
            subs = sorted({sub for sub, _ in keys})
            periods = sorted({label for _, label in keys})
            query = query.where(
                UsageCounterRow.sub_account_id.in_(subs), UsageCounterRow.period.in_(periods)
            )
        if for_update:
            query = query.with_for_update()
        return {
            (row.sub_account_id, row.period): PeriodUsage(
                row.billable_seconds,
                row.included_used_seconds,
                row.credit_seconds_e6,
                row.postpaid_seconds_e6,
                row.credit_micros,
                row.postpaid_micros,
                row.calls,
            )
            for row in self.session.scalars(query)
        }

    def save_usage_counters(
        self,
        agency_id: str,
        counters: dict[tuple[str, str], PeriodUsage],
        existing: set[tuple[str, str]],
    ) -> None:
        """Write counters back: one bulk UPDATE for the rows that were read, one bulk INSERT
        for the new ones."""
        rows = [
            {
                "agency_id": agency_id,
                "sub_account_id": sub_id,
                "period": label,
                "billable_seconds": u.billable_seconds,
                "included_used_seconds": u.included_used_seconds,
                "credit_seconds_e6": u.credit_seconds_e6,
                "postpaid_seconds_e6": u.postpaid_seconds_e6,
                "credit_micros": u.credit_micros,
                "postpaid_micros": u.postpaid_micros,
                "calls": u.calls,
            }
            for (sub_id, label), u in counters.items()
        ]
        old = [r for r in rows if (r["sub_account_id"], r["period"]) in existing]
        new = [r for r in rows if (r["sub_account_id"], r["period"]) not in existing]
        if old:
            self.session.execute(update(UsageCounterRow), old)
        if new:
            self.session.execute(insert(UsageCounterRow), new)

    def wallet_balances(
        self, agency_id: str, subs: Iterable[str] | None = None, for_update: bool = False
    ) -> dict[str, int]:
        query = select(WalletRow).where(WalletRow.agency_id == agency_id)
        if subs is not None:
            query = query.where(WalletRow.sub_account_id.in_(sorted(set(subs))))
        if for_update:
            query = query.with_for_update()
        return {row.sub_account_id: row.balance_micros for row in self.session.scalars(query)}

    def set_wallet_balances(
        self, agency_id: str, balances: dict[str, int], existing: set[str] | None = None
    ) -> None:
        """Write balances read under lock: bulk UPDATE for known wallets, INSERT for new."""
        if existing is None:
            existing = set(self.wallet_balances(agency_id, balances))
        old = [
            {"agency_id": agency_id, "sub_account_id": sub, "balance_micros": balance}
            for sub, balance in balances.items()
            if sub in existing
        ]
        new = [
            {"agency_id": agency_id, "sub_account_id": sub, "balance_micros": balance}
            for sub, balance in balances.items()
            if sub not in existing
        ]
        if old:
            self.session.execute(update(WalletRow), old)
        if new:
            self.session.execute(insert(WalletRow), new)

    def add_to_wallet(self, agency_id: str, sub_account_id: str, delta_micros: int) -> int:
        """Move a wallet by `delta` in one conditional statement (never below zero); returns
        the new balance."""
        table = WalletRow.__table__
        result = self.session.execute(
            update(WalletRow)
            .where(
                WalletRow.agency_id == agency_id,
                WalletRow.sub_account_id == sub_account_id,
                WalletRow.balance_micros + delta_micros >= 0,
            )
            .values(balance_micros=WalletRow.balance_micros + delta_micros)
            .returning(WalletRow.balance_micros)
            .execution_options(synchronize_session=False)
        )
        balance = result.scalar_one_or_none()
        if balance is not None:
            return int(balance)
        assert delta_micros >= 0, f"wallet of {sub_account_id} cannot go below zero"
        assert table is not None
        self.session.add(
            WalletRow(
                agency_id=agency_id, sub_account_id=sub_account_id, balance_micros=delta_micros
            )
        )
        self.session.flush()
        return delta_micros

    def add_period_campaigns(self, agency_id: str, items: set[tuple[str, str, str]]) -> None:
        if not items:
            return
        connection = self.session.connection()
        marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        connection.exec_driver_sql(
            "INSERT INTO period_campaigns (agency_id, sub_account_id, period, campaign_id) "
            f"VALUES ({marker}, {marker}, {marker}, {marker}) ON CONFLICT DO NOTHING",
            [(agency_id, *item) for item in sorted(items)],
        )

    def campaign_counts(self, agency_id: str, period: str) -> dict[str, int]:
        rows = self.session.execute(
            select(PeriodCampaignRow.sub_account_id, func.count())
            .where(PeriodCampaignRow.agency_id == agency_id, PeriodCampaignRow.period == period)
            .group_by(PeriodCampaignRow.sub_account_id)
        )
        return {sub: int(count) for sub, count in rows}

    def period_call_totals(self, agency_id: str, period: str) -> list[CallTotals]:
        """The period's own calls (not late ones), summed per sub-account, direction and
        retail rate: one pass over the period's rows."""
        rows = self.session.execute(
            select(
                CallRow.sub_account_id,
                CallRow.direction,
                CallRow.retail_rate_micros,
                CallRow.retail_rate_decimals,
                func.sum(CallRow.postpaid_micros),
                func.sum(CallRow.postpaid_seconds_e6),
                func.sum(CallRow.credit_micros),
                func.sum(CallRow.wholesale_billable_seconds),
                func.sum(CallRow.wholesale_cost_micros),
            )
            .where(CallRow.agency_id == agency_id, CallRow.period == period, CallRow.late == 0)
            .group_by(
                CallRow.sub_account_id,
                CallRow.direction,
                CallRow.retail_rate_micros,
                CallRow.retail_rate_decimals,
            )
        )
        return [CallTotals(r[0], period, r[1], r[2], r[3], *(int(v) for v in r[4:])) for r in rows]

    def claim_late_calls(self, agency_id: str, period: str) -> None:
        """Late calls of earlier periods not billed yet are billed by this close."""
        self.session.execute(
            update(CallRow)
            .where(
                CallRow.agency_id == agency_id,
                CallRow.late == 1,
                CallRow.billed_period.is_(None),
                CallRow.period < period,
            )
            .values(billed_period=period)
            .execution_options(synchronize_session=False)
        )

    def late_call_totals(self, agency_id: str, period: str) -> list[CallTotals]:
        rows = self.session.execute(
            select(
                CallRow.sub_account_id,
                CallRow.period,
                CallRow.direction,
                func.sum(CallRow.postpaid_micros),
                func.sum(CallRow.postpaid_seconds_e6),
                func.sum(CallRow.credit_micros),
                func.sum(CallRow.wholesale_billable_seconds),
                func.sum(CallRow.wholesale_cost_micros),
            )
            .where(
                CallRow.agency_id == agency_id, CallRow.late == 1, CallRow.billed_period == period
            )
            .group_by(CallRow.sub_account_id, CallRow.period, CallRow.direction)
        )
        return [CallTotals(r[0], r[1], r[2], 0, 0, *(int(v) for v in r[3:])) for r in rows]

    # -- periods ----------------------------------------------------------------------------
    def period_close(self, agency_id: str, period: str) -> PeriodCloseRow | None:
        return self.session.get(PeriodCloseRow, (agency_id, period))

    def closed_periods(self, agency_id: str) -> list[str]:
        return list(
            self.session.scalars(
                select(PeriodCloseRow.period)
                .where(PeriodCloseRow.agency_id == agency_id)
                .order_by(PeriodCloseRow.period)
            )
        )

    def save_period_close(
        self,
        agency_id: str,
        period: str,
        closed_at: datetime,
        wholesale_number: str,
        revenue_minor: int,
        cost_minor: int,
    ) -> None:
        self.session.add(
            PeriodCloseRow(
                agency_id=agency_id,
                period=period,
                closed_at=closed_at,
                wholesale_invoice_number=wholesale_number,
                revenue_minor=revenue_minor,
                cost_minor=cost_minor,
            )
        )
        self.session.flush()

    def save_period_usage(
        self, agency_id: str, period: str, rows: Sequence[tuple[str, dict[str, object], int, int]]
    ) -> None:
        """(sub-account, usage summary, revenue, cost) of each sub-account, in bulk."""
        if rows:
            self.session.execute(
                insert(PeriodUsageRow),
                [
                    {
                        "agency_id": agency_id,
                        "period": period,
                        "sub_account_id": sub,
                        "usage_json": json.dumps(usage),
                        "revenue_minor": revenue,
                        "cost_minor": cost,
                    }
                    for sub, usage, revenue, cost in rows
                ],
            )

    def period_usage(self, agency_id: str, period: str) -> list[PeriodUsageRow]:
        return list(
            self.session.scalars(
                select(PeriodUsageRow)
                .where(PeriodUsageRow.agency_id == agency_id, PeriodUsageRow.period == period)
                .order_by(PeriodUsageRow.sub_account_id)
            )
        )

    # -- invoices ---------------------------------------------------------------------------
    def reserve_invoice_numbers(self, issuer_prefix: str, kind: str, count: int) -> list[str]:
        """The next `count` numbers of a series, gapless: the counter row moves in the same
        transaction as the invoices (locked on PostgreSQL)."""
        series = series_prefix(issuer_prefix, kind)
        row = self.session.execute(
            select(InvoiceSequenceRow).where(InvoiceSequenceRow.series == series).with_for_update()
        ).scalar_one_or_none()
        if row is None:
            row = InvoiceSequenceRow(series=series, last_value=0)
            self.session.add(row)
        first = row.last_value + 1
        row.last_value += count
        self.session.flush()
        return [invoice_number(series, value) for value in range(first, first + count)]

    def invoice_by_key(self, agency_id: str, key: str) -> str | None:
        return self.session.scalar(
            select(InvoiceRow.number).where(
                InvoiceRow.agency_id == agency_id, InvoiceRow.idempotency_key == key
            )
        )

    def lock_invoice(self, agency_id: str, number: str) -> None:
        """Hold the invoice's row until the transaction ends (PostgreSQL; SQLite transactions
        already hold the database's one write lock)."""
        self.session.execute(
            select(InvoiceRow.number)
            .where(InvoiceRow.agency_id == agency_id, InvoiceRow.number == number)
            .with_for_update()
        )

    def mark_invoice(self, agency_id: str, number: str, status: str) -> str | None:
        """Set an invoice's payment status (the only field that changes after finalizing);
        returns the previous status, or None if there is no such invoice."""
        row = self.session.get(InvoiceRow, (agency_id, number), with_for_update=True)
        if row is None:
            return None
        previous, row.status = row.status, status
        self.session.flush()
        return previous

    def save_invoices(self, items: Sequence[tuple[InvoiceDraft, str, str]]) -> None:
        """Store finalized invoices and their lines in two bulk statements."""
        if not items:
            return
        self.session.execute(
            insert(InvoiceRow),
            [
                {
                    "agency_id": d.agency_id,
                    "number": number,
                    "issuer": d.issuer,
                    "kind": d.kind,
                    "sub_account_id": d.sub_account_id,
                    "period": d.period,
                    "currency": d.currency,
                    "issued_at": d.issued_at,
                    "status": status,
                    "subtotal_minor": d.subtotal_minor,
                    "tax_minor": d.tax_minor,
                    "total_minor": d.total_minor,
                    "tax_label": d.tax.label,
                    "tax_behavior": d.tax.behavior,
                    "usage_json": json.dumps(d.usage) if d.usage is not None else None,
                    "idempotency_key": d.idempotency_key,
                    "credit_of": d.credit_of,
                }
                for d, number, status in items
            ],
        )
        lines = [
            {
                "agency_id": d.agency_id,
                "number": number,
                "position": position,
                "code": line.code,
                "description": line.description,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "amount_micros": line.amount_micros,
                "amount_minor": line.amount_minor,
                "tax_minor": line.tax_minor,
            }
            for d, number, _ in items
            for position, line in enumerate(d.lines)
        ]
        if lines:
            self.session.execute(insert(InvoiceLineRow), lines)

    def invoices(
        self,
        agency_id: str | None = None,
        period: str | None = None,
        kind: str | None = None,
        number: str | None = None,
    ) -> list[StoredInvoice]:
        query = select(InvoiceRow)
        if agency_id:
            query = query.where(InvoiceRow.agency_id == agency_id)
        if period:
            query = query.where(InvoiceRow.period == period)
        if kind:
            query = query.where(InvoiceRow.kind == kind)
        if number:
            query = query.where(InvoiceRow.number == number)
        rows = list(self.session.scalars(query.order_by(InvoiceRow.issued_at, InvoiceRow.number)))
        lines: dict[tuple[str, str], list[StoredLine]] = defaultdict(list)
        if rows:
            keys = {(r.agency_id, r.number) for r in rows}
            agencies = {r.agency_id for r in rows}
            for line in self.session.scalars(
                select(InvoiceLineRow)
                .where(InvoiceLineRow.agency_id.in_(agencies))
                .order_by(InvoiceLineRow.number, InvoiceLineRow.position)
            ):
                if (line.agency_id, line.number) in keys:
                    lines[(line.agency_id, line.number)].append(
                        StoredLine(
                            line.code,
                            line.description,
                            line.quantity,
                            line.unit_price,
                            line.amount_minor,
                            line.tax_minor,
                        )
                    )
        return [
            StoredInvoice(
                number=r.number,
                agency_id=r.agency_id,
                issuer=r.issuer,
                kind=r.kind,
                sub_account_id=r.sub_account_id,
                period=r.period,
                currency=r.currency,
                issued_at=r.issued_at,
                status=r.status,
                subtotal_minor=r.subtotal_minor,
                tax_minor=r.tax_minor,
                total_minor=r.total_minor,
                tax_label=r.tax_label,
                usage=json.loads(r.usage_json) if r.usage_json else None,
                lines=lines[(r.agency_id, r.number)],
                tax_behavior=r.tax_behavior,
                credit_of=r.credit_of,
            )
            for r in rows
        ]

    # -- API keys and idempotency -----------------------------------------------------------
    def save_api_key(
        self,
        key_id: str,
        agency_id: str,
        sub_account_id: str,
        role: str,
        secret_sha256: str,
        now: datetime,
    ) -> None:
        self.session.add(
            ApiKeyRow(
                id=key_id,
                agency_id=agency_id,
                sub_account_id=sub_account_id,
                role=role,
                secret_sha256=secret_sha256,
                created_at=now,
            )
        )
        self.session.flush()

    def revoke_api_key(self, key_id: str, now: datetime) -> bool:
        row = self.session.get(ApiKeyRow, key_id)
        if row is None:
            return False
        row.revoked_at = row.revoked_at or now
        self.session.flush()
        return True

    def api_key(self, key_id: str) -> tuple[str, str, str, str, bool] | None:
        row = self.session.get(ApiKeyRow, key_id)
        if row is None:
            return None
        return (
            row.agency_id,
            row.sub_account_id,
            row.role,
            row.secret_sha256,
            row.revoked_at is not None,
        )

    def idempotency_record(
        self, key_id: str, key: str
    ) -> tuple[str, str, int, str, datetime] | None:
        row = self.session.get(IdempotencyRow, (key_id, key))
        if row is None:
            return None
        return (row.request_sha256, row.state, row.status_code, row.response_body, row.created_at)

    def start_idempotent(self, key_id: str, key: str, request_sha256: str, now: datetime) -> bool:
        """Claim a key for a request in flight; False when another request holds it."""
        existing = self.session.get(IdempotencyRow, (key_id, key))
        if existing is not None:
            return False
        self.session.add(
            IdempotencyRow(
                key_id=key_id,
                idempotency_key=key,
                request_sha256=request_sha256,
                state="in_flight",
                status_code=0,
                response_body="",
                created_at=now,
            )
        )
        self.session.flush()
        return True

    def finish_idempotent(self, key_id: str, key: str, status_code: int, body: str) -> None:
        row = self.session.get(IdempotencyRow, (key_id, key))
        assert row is not None
        row.state, row.status_code, row.response_body = "done", status_code, body
        self.session.flush()

    def forget_idempotent(self, key_id: str, key: str) -> None:
        self.session.execute(
            delete(IdempotencyRow).where(
                IdempotencyRow.key_id == key_id, IdempotencyRow.idempotency_key == key
            )
        )

    # -- payment gateways -------------------------------------------------------------------
    def gateway_link(self, agency_id: str) -> tuple[str, str | None, bool, bool] | None:
        row = self.session.get(GatewayLinkRow, agency_id)
        if row is None:
            return None
        return (
            row.provider,
            row.account_id,
            bool(row.charges_enabled),
            bool(row.details_submitted),
        )

    def save_gateway_link(
        self,
        agency_id: str,
        provider: str,
        account_id: str | None,
        charges_enabled: bool,
        details_submitted: bool,
        now: datetime,
    ) -> None:
        """Link (or relink) the agency's gateway; its application fee is kept."""
        row = self.session.get(GatewayLinkRow, agency_id, with_for_update=True)
        if row is None:
            row = GatewayLinkRow(agency_id=agency_id, application_fee_bps=0)
            self.session.add(row)
        row.provider, row.account_id = provider, account_id
        row.charges_enabled, row.details_submitted = int(charges_enabled), int(details_submitted)
        row.updated_at = now
        self.session.flush()

    def application_fee_bps(self, agency_id: str) -> int:
        return (
            self.session.scalar(
                select(GatewayLinkRow.application_fee_bps).where(
                    GatewayLinkRow.agency_id == agency_id
                )
            )
            or 0
        )

    def set_application_fee_bps(self, agency_id: str, fee_bps: int) -> bool:
        row = self.session.get(GatewayLinkRow, agency_id, with_for_update=True)
        if row is None:
            return False
        row.application_fee_bps = fee_bps
        self.session.flush()
        return True

    def save_gateway_customer(
        self,
        agency_id: str,
        party_id: str,
        provider: str,
        account_id: str | None,
        card: SavedCard,
        now: datetime,
    ) -> None:
        self.session.merge(
            GatewayCustomerRow(
                agency_id=agency_id,
                party_id=party_id,
                provider=provider,
                account_id=account_id,
                customer_id=card.customer_id,
                payment_method_id=card.payment_method_id,
                label=card.label,
                updated_at=now,
            )
        )
        self.session.flush()

    def gateway_customer(
        self, agency_id: str, party_id: str
    ) -> tuple[str, str | None, SavedCard] | None:
        """(provider, account, card) of a payer ('' is the agency at the platform)."""
        row = self.session.get(GatewayCustomerRow, (agency_id, party_id))
        if row is None:
            return None
        card = SavedCard(row.customer_id, row.payment_method_id, row.label)
        return row.provider, row.account_id, card

    def payments_of(
        self, agency_id: str, number: str, for_update: bool = False
    ) -> list[PaymentAttempt]:
        query = (
            select(PaymentRow)
            .where(PaymentRow.agency_id == agency_id, PaymentRow.number == number)
            .order_by(PaymentRow.attempt)
        )
        if for_update:
            query = query.with_for_update()
        return [
            PaymentAttempt(
                r.number,
                r.attempt,
                r.idempotency_key,
                r.provider,
                r.account_id,
                r.amount_minor,
                r.status,
                r.payment_intent,
                r.code,
                r.message,
                r.customer_id,
                r.payment_method_id,
                r.fee_minor,
            )
            for r in self.session.scalars(query)
        ]

    def save_payment(self, agency_id: str, payment: PaymentAttempt, now: datetime) -> None:
        """Insert an attempt, or record the gateway's answer to it."""
        row = self.session.get(PaymentRow, (agency_id, payment.number, payment.attempt))
        if row is None:
            row = PaymentRow(
                agency_id=agency_id,
                number=payment.number,
                attempt=payment.attempt,
                idempotency_key=payment.idempotency_key,
                provider=payment.provider,
                account_id=payment.account_id,
                amount_minor=payment.amount_minor,
                customer_id=payment.customer_id,
                payment_method_id=payment.payment_method_id,
                fee_minor=payment.fee_minor,
                created_at=now,
            )
            self.session.add(row)
        row.status, row.payment_intent = payment.status, payment.payment_intent
        row.code, row.message = payment.code, (payment.message or None) and payment.message[:300]
        row.updated_at = now
        self.session.flush()

    def payments_with_status(
        self, status: str, agency_ids: list[str] | None = None
    ) -> list[tuple[str, PaymentAttempt]]:
        """(agency, attempt) of every attempt in `status`, oldest first."""
        query = select(PaymentRow.agency_id, PaymentRow.number).where(PaymentRow.status == status)
        if agency_ids is not None:
            query = query.where(PaymentRow.agency_id.in_(agency_ids))
        found = []
        for agency_id, number in sorted(set(self.session.execute(query).tuples())):
            found += [
                (agency_id, a) for a in self.payments_of(agency_id, number) if a.status == status
            ]
        return found

    def refund_record(self, agency_id: str, key: str) -> dict[str, Any] | None:
        row = self.session.get(RefundRow, (agency_id, key), with_for_update=True)
        if row is None:
            return None
        return {
            "key": row.key,
            "number": row.number,
            "amount_minor": row.amount_minor,
            "idempotency_key": row.idempotency_key,
            "status": row.status,
            "refund": row.gateway_refund_id,
            "credit_note": row.credit_note,
        }

    def save_refund(
        self,
        agency_id: str,
        key: str,
        number: str,
        amount_minor: int,
        status: str,
        gateway_refund_id: str | None,
        credit_note: str | None,
        now: datetime,
        idempotency_key: str = "",
    ) -> None:
        row = self.session.get(RefundRow, (agency_id, key))
        if row is None:
            row = RefundRow(
                agency_id=agency_id,
                key=key,
                number=number,
                amount_minor=amount_minor,
                idempotency_key=idempotency_key,
                created_at=now,
            )
            self.session.add(row)
        row.status, row.gateway_refund_id, row.credit_note = status, gateway_refund_id, credit_note
        self.session.flush()

    def refunded_minor(self, agency_id: str, number: str) -> int:
        """What refunds (unfinished ones included, refused ones not) take back from an
        invoice."""
        total = self.session.scalar(
            select(func.sum(RefundRow.amount_minor)).where(
                RefundRow.agency_id == agency_id,
                RefundRow.number == number,
                RefundRow.status != "failed",
            )
        )
        return int(total or 0)

    def pending_refund(self, agency_id: str, number: str) -> dict[str, Any] | None:
        """An unfinished refund of the invoice (asked of the gateway, no answer recorded)."""
        key = self.session.scalar(
            select(RefundRow.key).where(
                RefundRow.agency_id == agency_id,
                RefundRow.number == number,
                RefundRow.status == "pending",
            )
        )
        return self.refund_record(agency_id, key) if key else None

    def agency_for_account(self, account_id: str) -> str | None:
        return self.session.scalar(
            select(GatewayLinkRow.agency_id).where(GatewayLinkRow.account_id == account_id)
        )

    def save_checkout(
        self,
        agency_id: str,
        checkout_id: str,
        sub_account_id: str,
        action: str,
        detail: str,
        amount_minor: int,
        tax_minor: int,
        now: datetime,
    ) -> None:
        self.session.add(
            CheckoutRow(
                agency_id=agency_id,
                id=checkout_id,
                sub_account_id=sub_account_id,
                action=action,
                detail=detail,
                amount_minor=amount_minor,
                tax_minor=tax_minor,
                status="open",
                created_at=now,
            )
        )
        self.session.flush()

    def checkout(
        self, agency_id: str, checkout_id: str, for_update: bool = False
    ) -> dict[str, Any] | None:
        row = self.session.get(CheckoutRow, (agency_id, checkout_id), with_for_update=for_update)
        if row is None:
            return None
        return {
            "id": row.id,
            "sub_account": row.sub_account_id,
            "action": row.action,
            "detail": row.detail,
            "amount_minor": row.amount_minor,
            "tax_minor": row.tax_minor,
            "status": row.status,
            "applied": row.applied_at is not None,
        }

    def complete_checkout(self, agency_id: str, checkout_id: str, now: datetime) -> None:
        row = self.session.get(CheckoutRow, (agency_id, checkout_id))
        assert row is not None
        row.status, row.applied_at = "complete", now
        self.session.flush()

    def record_gateway_event(
        self, provider: str, event_id: str, event_type: str, account_id: str | None, now: datetime
    ) -> bool:
        """Remember an event; False when it was seen before (a replay)."""
        if self.session.get(GatewayEventRow, (provider, event_id)) is not None:
            return False
        self.session.add(
            GatewayEventRow(
                provider=provider,
                event_id=event_id,
                event_type=event_type,
                account_id=account_id,
                received_at=now,
            )
        )
        self.session.flush()
        return True

    # -- webhooks ---------------------------------------------------------------------------
    def save_webhook_endpoint(
        self,
        agency_id: str,
        endpoint_id: str,
        url: str,
        secret: str,
        events: list[str],
        now: datetime,
    ) -> None:
        self.session.add(
            WebhookEndpointRow(
                agency_id=agency_id,
                id=endpoint_id,
                url=url,
                secret=secret,
                events=json.dumps(events),
                created_at=now,
            )
        )
        self.session.flush()

    def webhook_endpoints(self, agency_id: str) -> list[dict[str, Any]]:
        rows = self.session.scalars(
            select(WebhookEndpointRow)
            .where(WebhookEndpointRow.agency_id == agency_id)
            .order_by(WebhookEndpointRow.id)
        )
        return [
            {
                "id": r.id,
                "url": r.url,
                "events": json.loads(r.events),
                "created_at": r.created_at.isoformat(),
                "disabled": r.disabled_at is not None,
                "disabled_at": r.disabled_at.isoformat() if r.disabled_at else None,
                "consecutive_failures": r.consecutive_failures,
            }
            for r in rows
        ]

    def enable_webhook_endpoint(
        self, agency_id: str, endpoint_id: str, secret: str | None, events: list[str] | None
    ) -> bool:
        """Send to the endpoint again, its failure count cleared (with a new secret and event
        list when given); False when it does not exist."""
        row = self.session.get(WebhookEndpointRow, (agency_id, endpoint_id), with_for_update=True)
        if row is None:
            return False
        row.disabled_at, row.consecutive_failures = None, 0
        if secret is not None:
            row.secret = secret
        if events is not None:
            row.events = json.dumps(events)
        self.session.flush()
        return True

    def count_endpoint_result(self, agency_id: str, endpoint_id: str, ok: bool) -> int:
        """Note one attempt's outcome; the endpoint's consecutive failures after it."""
        row = self.session.get(WebhookEndpointRow, (agency_id, endpoint_id), with_for_update=True)
        assert row is not None
        row.consecutive_failures = 0 if ok else row.consecutive_failures + 1
        self.session.flush()
        return row.consecutive_failures

    def disable_webhook_endpoint(
        self, agency_id: str, endpoint_id: str, now: datetime, error: str
    ) -> None:
        """Stop sending to the endpoint; its pending deliveries fail with `error` (a replay
        queues one again, sent once the endpoint is enabled)."""
        row = self.session.get(WebhookEndpointRow, (agency_id, endpoint_id), with_for_update=True)
        assert row is not None
        row.disabled_at = now
        self.session.execute(
            update(WebhookDeliveryRow)
            .where(
                WebhookDeliveryRow.agency_id == agency_id,
                WebhookDeliveryRow.endpoint_id == endpoint_id,
                WebhookDeliveryRow.status == "pending",
            )
            .values(status="failed", last_error=error[:500])
        )
        self.session.flush()

    def webhook_endpoints_for(self, agency_id: str) -> list[tuple[str, list[str]]]:
        rows = self.session.execute(
            select(WebhookEndpointRow.id, WebhookEndpointRow.events).where(
                WebhookEndpointRow.agency_id == agency_id, WebhookEndpointRow.disabled_at.is_(None)
            )
        )
        return [(endpoint_id, json.loads(events)) for endpoint_id, events in rows]

    def queue_delivery(
        self,
        agency_id: str,
        delivery_id: str,
        endpoint_id: str,
        event_id: str,
        event_type: str,
        payload: str,
        now: datetime,
    ) -> None:
        self.session.add(
            WebhookDeliveryRow(
                agency_id=agency_id,
                id=delivery_id,
                endpoint_id=endpoint_id,
                event_id=event_id,
                event_type=event_type,
                payload=payload,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                last_error="",
                created_at=now,
            )
        )
        self.session.flush()

    def due_deliveries(
        self, now: datetime, limit: int, per_agency_limit: int
    ) -> list[dict[str, Any]]:
        """Pending deliveries that are due, to enabled endpoints: at most `per_agency_limit` of
        each agency (its oldest first), so one agency's backlog cannot fill the round."""
        joined = and_(
            WebhookEndpointRow.agency_id == WebhookDeliveryRow.agency_id,
            WebhookEndpointRow.id == WebhookDeliveryRow.endpoint_id,
        )
        rank = (
            func.row_number()
            .over(
                partition_by=WebhookDeliveryRow.agency_id,
                order_by=(WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.id),
            )
            .label("rank")
        )
        ranked = (
            select(WebhookDeliveryRow.agency_id, WebhookDeliveryRow.id, rank)
            .join(WebhookEndpointRow, joined)
            .where(
                WebhookDeliveryRow.status == "pending",
                WebhookDeliveryRow.next_attempt_at <= now,
                WebhookEndpointRow.disabled_at.is_(None),
            )
            .subquery()
        )
        rows = self.session.execute(
            select(WebhookDeliveryRow, WebhookEndpointRow.url, WebhookEndpointRow.secret)
            .join(WebhookEndpointRow, joined)
            .join(
                ranked,
                and_(
                    ranked.c.agency_id == WebhookDeliveryRow.agency_id,
                    ranked.c.id == WebhookDeliveryRow.id,
                ),
            )
            .where(ranked.c.rank <= per_agency_limit)
            .order_by(WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.id)
            .limit(limit)
        )
        return [
            {
                "agency_id": d.agency_id,
                "id": d.id,
                "endpoint_id": d.endpoint_id,
                "payload": d.payload,
                "attempts": d.attempts,
                "url": url,
                "secret": secret,
            }
            for d, url, secret in rows
        ]

    def finish_delivery(
        self,
        agency_id: str,
        delivery_id: str,
        status: str,
        attempts: int,
        next_attempt_at: datetime,
        error: str,
        delivered_at: datetime | None,
    ) -> None:
        row = self.session.get(WebhookDeliveryRow, (agency_id, delivery_id))
        assert row is not None
        row.status, row.attempts, row.next_attempt_at = status, attempts, next_attempt_at
        row.last_error, row.delivered_at = error[:500], delivered_at
        self.session.flush()

    def replay_delivery(self, agency_id: str, delivery_id: str, now: datetime) -> bool:
        row = self.session.get(WebhookDeliveryRow, (agency_id, delivery_id))
        if row is None:
            return False
        row.status, row.next_attempt_at = "pending", now
        self.session.flush()
        return True

    def webhook_deliveries(self, agency_id: str) -> list[dict[str, Any]]:
        rows = self.session.scalars(
            select(WebhookDeliveryRow)
            .where(WebhookDeliveryRow.agency_id == agency_id)
            .order_by(WebhookDeliveryRow.created_at, WebhookDeliveryRow.id)
        )
        return [
            {
                "id": r.id,
                "endpoint": r.endpoint_id,
                "event_id": r.event_id,
                "event_type": r.event_type,
                "status": r.status,
                "attempts": r.attempts,
                "last_error": r.last_error or None,
                "next_attempt_at": r.next_attempt_at.isoformat(),
                "delivered_at": r.delivered_at.isoformat() if r.delivered_at else None,
            }
            for r in rows
        ]

    # -- ledger -----------------------------------------------------------------------------
    def has_entry(self, agency_id: str, key: str) -> bool:
        return self.session.get(JournalEntryRow, (agency_id, key)) is not None

    def post_entry(self, entry: JournalEntry) -> bool:
        """Append a balanced entry once; False if its idempotency key was already posted."""
        if self.has_entry(entry.agency_id, entry.idempotency_key):
            return False
        self.post_entries([entry])
        return True

    def post_entries(self, entries: Sequence[JournalEntry]) -> None:
        """Append new balanced entries (their keys must be new) in two bulk statements."""
        if not entries:
            return
        self.session.execute(
            insert(JournalEntryRow),
            [
                {
                    "agency_id": e.agency_id,
                    "idempotency_key": e.idempotency_key,
                    "description": e.description[:300],
                    "occurred_at": e.occurred_at,
                    "currency": e.currency,
                }
                for e in entries
            ],
        )
        postings = [
            {
                "agency_id": e.agency_id,
                "idempotency_key": e.idempotency_key,
                "position": position,
                "account": p.account,
                "amount_micros": p.amount_micros,
                "currency": e.currency,
            }
            for e in entries
            for position, p in enumerate(e.postings)
        ]
        if postings:
            self.session.execute(insert(PostingRow), postings)

    def claim_entry(
        self, agency_id: str, key: str, description: str, occurred_at: datetime, currency: str
    ) -> bool:
        """Insert a journal entry's header unless its key exists, in one statement; False when
        it exists (a replay). Add its postings with `add_postings`."""
        values = {
            "agency_id": agency_id,
            "idempotency_key": key,
            "description": description[:300],
            "occurred_at": occurred_at,
            "currency": currency,
        }
        # Each dialect's insert is imported by the store on it: SQLite never loads PostgreSQL's.
        if self.session.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            statement: Any = pg_insert(JournalEntryRow).values(**values)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            statement = sqlite_insert(JournalEntryRow).values(**values)
        statement = statement.on_conflict_do_nothing().returning(JournalEntryRow.idempotency_key)
        return self.session.execute(statement).first() is not None

    def add_postings(
        self, agency_id: str, key: str, currency: str, postings: Sequence[tuple[str, int]]
    ) -> None:
        assert sum(m for _, m in postings) == 0, "postings must balance"
        self.session.execute(
            insert(PostingRow),
            [
                {
                    "agency_id": agency_id,
                    "idempotency_key": key,
                    "position": position,
                    "account": account,
                    "amount_micros": micros,
                    "currency": currency,
                }
                for position, (account, micros) in enumerate(postings)
            ],
        )

    def entry_amount(self, agency_id: str, key: str, account: str) -> int | None:
        """The amount an already-posted entry moved on `account`, or None if not posted."""
        if not self.has_entry(agency_id, key):
            return None
        total = self.session.scalar(
            select(func.coalesce(func.sum(PostingRow.amount_micros), 0)).where(
                PostingRow.agency_id == agency_id,
                PostingRow.idempotency_key == key,
                PostingRow.account == account,
            )
        )
        return int(total or 0)

    def account_balance_micros(self, agency_id: str, account: str) -> int:
        """Debit-positive balance of one account, derived from its postings."""
        total = self.session.scalar(
            select(func.coalesce(func.sum(PostingRow.amount_micros), 0)).where(
                PostingRow.agency_id == agency_id, PostingRow.account == account
            )
        )
        return int(total or 0)

    def account_balances(self, agency_id: str, prefix: str) -> dict[str, int]:
        rows = self.session.execute(
            select(PostingRow.account, func.sum(PostingRow.amount_micros))
            .where(PostingRow.agency_id == agency_id, PostingRow.account.startswith(prefix))
            .group_by(PostingRow.account)
        )
        return {account: int(total) for account, total in rows}

    def unbalanced_entries(self) -> list[tuple[str, str]]:
        rows = self.session.execute(
            select(PostingRow.agency_id, PostingRow.idempotency_key)
            .group_by(PostingRow.agency_id, PostingRow.idempotency_key, PostingRow.currency)
            .having(func.sum(PostingRow.amount_micros) != 0)
        )
        return [(a, k) for a, k in rows]

    # -- panel: users, sessions, audit log, chart reads -------------------------------------
    def save_web_user(
        self,
        user_id: str,
        email: str,
        password_hash: str,
        role: str,
        agency_id: str | None,
        sub_account_id: str | None,
        now: datetime,
    ) -> None:
        self.session.add(
            WebUserRow(
                id=user_id,
                email=email,
                password_hash=password_hash,
                role=role,
                agency_id=agency_id,
                sub_account_id=sub_account_id,
                created_at=now,
            )
        )
        self.session.flush()

    def set_web_password(self, user_id: str, password_hash: str) -> None:
        self.session.execute(
            update(WebUserRow).where(WebUserRow.id == user_id).values(password_hash=password_hash)
        )

    def web_user_by_email(self, email: str) -> dict[str, Any] | None:
        row = self.session.scalar(select(WebUserRow).where(WebUserRow.email == email))
        return _web_user(row) if row else None

    def web_user(self, user_id: str) -> dict[str, Any] | None:
        row = self.session.get(WebUserRow, user_id)
        return _web_user(row) if row else None

    def web_users(self, agency_id: str | None) -> list[dict[str, Any]]:
        """The agency's users (its staff and its clients); every user when None."""
        query = select(WebUserRow).order_by(WebUserRow.email)
        if agency_id is not None:
            query = query.where(WebUserRow.agency_id == agency_id)
        return [_web_user(row) for row in self.session.scalars(query)]

    def save_web_session(
        self, token_sha256: str, user_id: str, csrf_token: str, now: datetime, expires_at: datetime
    ) -> None:
        self.session.add(
            WebSessionRow(
                token_sha256=token_sha256,
                user_id=user_id,
                csrf_token=csrf_token,
                created_at=now,
                expires_at=expires_at,
            )
        )

    def web_session(self, token_sha256: str) -> tuple[str, str, datetime] | None:
        """(user id, CSRF token, expiry) of a session."""
        row = self.session.get(WebSessionRow, token_sha256)
        return (row.user_id, row.csrf_token, row.expires_at) if row else None

    def delete_web_session(self, token_sha256: str) -> None:
        self.session.execute(
            delete(WebSessionRow).where(WebSessionRow.token_sha256 == token_sha256)
        )

    def delete_expired_web_sessions(self, now: datetime) -> None:
        self.session.execute(delete(WebSessionRow).where(WebSessionRow.expires_at <= now))

    def lock_sign_in_throttle(
        self, kind: str, key_sha256: str, now: datetime
    ) -> tuple[int, datetime]:
        """(failures, last failure) of a throttle record, locked until the transaction ends;
        created empty when missing (inserted first, so parallel attempts never both insert)."""
        values = {"kind": kind, "key_sha256": key_sha256, "failures": 0, "last_failure_at": now}
        if self.session.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            statement: Any = pg_insert(SignInThrottleRow).values(**values)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            statement = sqlite_insert(SignInThrottleRow).values(**values)
        self.session.execute(statement.on_conflict_do_nothing())
        row = self.session.execute(
            select(SignInThrottleRow.failures, SignInThrottleRow.last_failure_at)
            .where(SignInThrottleRow.kind == kind, SignInThrottleRow.key_sha256 == key_sha256)
            .with_for_update()
        ).one()
        return int(row.failures), row.last_failure_at

    def save_sign_in_throttle(
        self, kind: str, key_sha256: str, failures: int, last_failure_at: datetime
    ) -> None:
        """Set a record's count (a count of 0 deletes it)."""
        where = (SignInThrottleRow.kind == kind, SignInThrottleRow.key_sha256 == key_sha256)
        if failures <= 0:
            self.session.execute(delete(SignInThrottleRow).where(*where))
            return
        self.session.execute(
            update(SignInThrottleRow)
            .where(*where)
            .values(failures=failures, last_failure_at=last_failure_at)
        )

    def delete_sign_in_throttles_before(self, before: datetime) -> None:
        self.session.execute(
            delete(SignInThrottleRow).where(SignInThrottleRow.last_failure_at < before)
        )

    def add_audit_entry(
        self,
        agency_id: str,
        at: datetime,
        actor: str,
        target: str,
        field: str,
        old_value: str,
        new_value: str,
    ) -> None:
        self.session.add(
            AuditEntryRow(
                agency_id=agency_id,
                at=at,
                actor=actor,
                target=target,
                field=field,
                old_value=old_value[:200],
                new_value=new_value[:200],
            )
        )

    def audit_entries(self, agency_id: str, limit: int) -> list[dict[str, Any]]:
        rows = self.session.scalars(
            select(AuditEntryRow)
            .where(AuditEntryRow.agency_id == agency_id)
            .order_by(AuditEntryRow.id.desc())
            .limit(limit)
        )
        return [
            {
                "at": r.at,
                "actor": r.actor,
                "target": r.target,
                "field": r.field,
                "old": r.old_value,
                "new": r.new_value,
            }
            for r in rows
        ]

    def call_starts(
        self, agency_id: str, sub_account_id: str, start: datetime, end: datetime
    ) -> list[tuple[datetime, int]]:
        """(started_at, retail billable seconds) of a sub-account's calls in [start, end)."""
        rows = self.session.execute(
            select(CallRow.started_at, CallRow.retail_billable_seconds).where(
                CallRow.agency_id == agency_id,
                CallRow.sub_account_id == sub_account_id,
                CallRow.started_at >= start,
                CallRow.started_at < end,
            )
        )
        return [(at, int(seconds)) for at, seconds in rows]

    def wholesale_cost_by_sub_account(self, agency_id: str, period: str) -> dict[str, int]:
        """The platform's voice cost of each sub-account's calls in a period, in micros."""
        rows = self.session.execute(
            select(CallRow.sub_account_id, func.sum(CallRow.wholesale_cost_micros))
            .where(CallRow.period == period, CallRow.agency_id == agency_id)
            .group_by(CallRow.sub_account_id)
        )
        return {str(sub): int(total or 0) for sub, total in rows}

    def wholesale_override(
        self, agency_id: str
    ) -> tuple[int | None, dict[str, VoiceRate], dict[str, int]]:
        """The agency's own wholesale prices on top of the platform's card (fee, voice, numbers)."""
        agency = self.session.get(AgencyRow, agency_id)
        voice = {
            r.direction: _voice(r)
            for r in self.session.scalars(
                select(WholesaleVoiceRateRow).where(WholesaleVoiceRateRow.scope == agency_id)
            )
        }
        numbers = {
            r.number_type: r.monthly_micros
            for r in self.session.scalars(
                select(WholesaleNumberPriceRow).where(WholesaleNumberPriceRow.scope == agency_id)
            )
        }
        return (agency.agency_monthly_fee_micros if agency else None), voice, numbers


class SqlUnitOfWork:
    """`with uow:` opens a session; leaving without `commit()` rolls everything back."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory
        self.store: SqlStore
        self.domains: SqlDomainRepository
        self.link_states: SqlLinkStates

    def __enter__(self) -> SqlUnitOfWork:
        self._session = self._factory()
        self.store = SqlStore(self._session)
        self.domains = SqlDomainRepository(self._session)
        self.link_states = SqlLinkStates(self._session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._session.rollback()
        self._session.close()

    def commit(self) -> None:
        self._session.commit()

    def rollback(self) -> None:
        self._session.rollback()


def _web_user(row: WebUserRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "email": row.email,
        "password_hash": row.password_hash,
        "role": row.role,
        "agency_id": row.agency_id,
        "sub_account_id": row.sub_account_id,
        "created_at": row.created_at,
        "disabled": row.disabled_at is not None,
    }


def unit_of_work_factory(engine: Engine) -> Any:
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    return lambda: SqlUnitOfWork(factory)
