"""ORM rows. Every tenant-owned table carries `agency_id` first in its primary key so that the
data can later be distributed by agency. Money columns are integers (`*_micros`, `*_minor`);
unique constraints are the source of truth for idempotency."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Re-exported (the `as`): the migrations name it `rebill.adapters.db.rows.UtcDateTime`.
from rebill.adapters.db.types import UtcDateTime as UtcDateTime  # noqa: PLC0414

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


Id = String(64)
Money = BigInteger


class PlatformRow(Base):
    __tablename__ = "platform"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    invoice_prefix: Mapped[str] = mapped_column(String(20))
    agency_monthly_fee_micros: Mapped[int] = mapped_column(Money)
    brand_json: Mapped[str | None] = mapped_column(Text, nullable=True)


class WholesaleVoiceRateRow(Base):
    """scope '' is the platform's card; an agency id scopes an override."""

    __tablename__ = "wholesale_voice_rates"
    scope: Mapped[str] = mapped_column(Id, primary_key=True)
    direction: Mapped[str] = mapped_column(String(16), primary_key=True)
    per_minute_micros: Mapped[int] = mapped_column(Money)
    per_minute_decimals: Mapped[int] = mapped_column(Integer)
    increment_first_seconds: Mapped[int] = mapped_column(Integer)
    increment_step_seconds: Mapped[int] = mapped_column(Integer)
    connect_fee_micros: Mapped[int] = mapped_column(Money)


class WholesaleNumberPriceRow(Base):
    __tablename__ = "wholesale_number_prices"
    scope: Mapped[str] = mapped_column(Id, primary_key=True)
    number_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    monthly_micros: Mapped[int] = mapped_column(Money)


class WholesaleScheduleRow(Base):
    """A change of the platform's card scheduled for the periods from `effective_period` on
    (its rates and prices are the wholesale rows of scope `@{effective_period}`)."""

    __tablename__ = "wholesale_schedule"
    effective_period: Mapped[str] = mapped_column(String(7), primary_key=True)
    agency_monthly_fee_micros: Mapped[int] = mapped_column(Money)
    scheduled_at: Mapped[datetime] = mapped_column(UtcDateTime)
    scheduled_by: Mapped[str] = mapped_column(String(200))


class AgencyRow(Base):
    __tablename__ = "agencies"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    invoice_prefix: Mapped[str] = mapped_column(String(20), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    tax_mode: Mapped[str] = mapped_column(String(16))
    tax_rate_percent: Mapped[str] = mapped_column(String(16))  # exact decimal text, not money
    tax_behavior: Mapped[str] = mapped_column(String(16))
    tax_label: Mapped[str] = mapped_column(String(40))
    credit_limit_micros: Mapped[int | None] = mapped_column(Money, nullable=True)
    agency_monthly_fee_micros: Mapped[int | None] = mapped_column(Money, nullable=True)
    brand_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PlanRow(Base):
    __tablename__ = "plans"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    monthly_fee_micros: Mapped[int] = mapped_column(Money)
    included_minutes: Mapped[int] = mapped_column(BigInteger)
    overage: Mapped[str] = mapped_column(String(16))
    included_numbers: Mapped[int] = mapped_column(Integer)
    local_monthly_micros: Mapped[int] = mapped_column(Money)
    toll_free_monthly_micros: Mapped[int] = mapped_column(Money)
    limit_campaigns: Mapped[int] = mapped_column(Integer)
    limit_numbers: Mapped[int] = mapped_column(Integer)
    limit_parallel_calls: Mapped[int] = mapped_column(Integer)
    # An earlier version of plan `version_of` (its `version`-th terms), kept for the clients
    # that were on them when the plan changed; hidden from the plan list. Null: a plan.
    version_of: Mapped[str | None] = mapped_column(Id, nullable=True)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    superseded_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    __table_args__ = (ForeignKeyConstraint(["agency_id"], ["agencies.id"]),)


class PlanVoiceRateRow(Base):
    __tablename__ = "plan_voice_rates"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    plan_id: Mapped[str] = mapped_column(Id, primary_key=True)
    direction: Mapped[str] = mapped_column(String(16), primary_key=True)
    per_minute_micros: Mapped[int] = mapped_column(Money)
    per_minute_decimals: Mapped[int] = mapped_column(Integer)
    increment_first_seconds: Mapped[int] = mapped_column(Integer)
    increment_step_seconds: Mapped[int] = mapped_column(Integer)
    connect_fee_micros: Mapped[int] = mapped_column(Money)
    __table_args__ = (
        ForeignKeyConstraint(["agency_id", "plan_id"], ["plans.agency_id", "plans.id"]),
    )


class SubAccountRow(Base):
    __tablename__ = "sub_accounts"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    country: Mapped[str] = mapped_column(String(2))  # "" when not given (docs/tax.md)
    # The rest of the client's tax identity: its tax ID (compact) and address lines (JSON).
    tax_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    address_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    limit_campaigns: Mapped[int | None] = mapped_column(Integer, nullable=True)
    limit_numbers: Mapped[int | None] = mapped_column(Integer, nullable=True)
    limit_parallel_calls: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cap_monthly_spend_micros: Mapped[int | None] = mapped_column(Money, nullable=True)
    cap_monthly_minutes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    cap_alerts: Mapped[str] = mapped_column(String(200))  # JSON list of decimal strings
    cap_enforcement: Mapped[str] = mapped_column(String(16))
    top_up_threshold_micros: Mapped[int | None] = mapped_column(Money, nullable=True)
    top_up_amount_micros: Mapped[int | None] = mapped_column(Money, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    __table_args__ = (ForeignKeyConstraint(["agency_id"], ["agencies.id"]),)


class SubscriptionRow(Base):
    """The plan history: the plan in force at t is the latest row with effective_at <= t."""

    __tablename__ = "subscriptions"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    sub_account_id: Mapped[str] = mapped_column(Id, primary_key=True)
    effective_at: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    plan_id: Mapped[str] = mapped_column(Id)
    change: Mapped[str] = mapped_column(String(16))  # subscribe | upgrade | downgrade
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    __table_args__ = (
        ForeignKeyConstraint(
            ["agency_id", "sub_account_id"], ["sub_accounts.agency_id", "sub_accounts.id"]
        ),
        ForeignKeyConstraint(["agency_id", "plan_id"], ["plans.agency_id", "plans.id"]),
    )


class PhoneNumberRow(Base):
    __tablename__ = "phone_numbers"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    e164: Mapped[str] = mapped_column(String(20), primary_key=True)
    rented_at: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    sub_account_id: Mapped[str] = mapped_column(Id)
    number_type: Mapped[str] = mapped_column(String(16))
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    __table_args__ = (
        ForeignKeyConstraint(
            ["agency_id", "sub_account_id"], ["sub_accounts.agency_id", "sub_accounts.id"]
        ),
        Index("ix_phone_numbers_sub", "agency_id", "sub_account_id"),
    )


class CallRow(Base):
    """A call record as received, with both ratings and how its retail side was paid.
    `period` is the agency-local month of `started_at`; `late` marks a call that arrived after
    that period was closed, and `billed_period` names the close that billed it."""

    __tablename__ = "calls"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    sub_account_id: Mapped[str] = mapped_column(Id)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    duration_seconds: Mapped[int] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(16))
    campaign_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    phone_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    period: Mapped[str] = mapped_column(String(7))
    late: Mapped[int] = mapped_column(Integer)
    billed_period: Mapped[str | None] = mapped_column(String(7), nullable=True)
    retail_billable_seconds: Mapped[int] = mapped_column(Integer)
    included_seconds: Mapped[int] = mapped_column(Integer)
    credit_micros: Mapped[int] = mapped_column(Money)
    postpaid_micros: Mapped[int] = mapped_column(Money)
    postpaid_seconds_e6: Mapped[int] = mapped_column(BigInteger)
    retail_rate_micros: Mapped[int] = mapped_column(Money)
    retail_rate_decimals: Mapped[int] = mapped_column(Integer)
    wholesale_billable_seconds: Mapped[int] = mapped_column(Integer)
    wholesale_cost_micros: Mapped[int] = mapped_column(Money)
    __table_args__ = (
        # No secondary index leads with agency_id, so a lookup by (agency_id, call_id) always
        # takes the primary key, even when PostgreSQL's statistics lag behind a big import.
        Index("ix_calls_period", "period", "agency_id", "late", "sub_account_id"),
        Index("ix_calls_late", "late", "billed_period", "agency_id"),
    )


class CallTotalRow(Base):
    """The period's own (not late) calls of a sub-account summed per direction and retail
    rate, kept up to date by every insert of calls: the close reads these few rows instead of
    scanning the period's calls (issue 12)."""

    __tablename__ = "call_totals"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    sub_account_id: Mapped[str] = mapped_column(Id, primary_key=True)
    direction: Mapped[str] = mapped_column(String(16), primary_key=True)
    retail_rate_micros: Mapped[int] = mapped_column(Money, primary_key=True)
    retail_rate_decimals: Mapped[int] = mapped_column(Integer, primary_key=True)
    calls: Mapped[int] = mapped_column(BigInteger)
    postpaid_micros: Mapped[int] = mapped_column(Money)
    postpaid_seconds_e6: Mapped[int] = mapped_column(BigInteger)
    credit_micros: Mapped[int] = mapped_column(Money)
    wholesale_billable_seconds: Mapped[int] = mapped_column(BigInteger)
    wholesale_cost_micros: Mapped[int] = mapped_column(Money)


class UsageCounterRow(Base):
    """A sub-account's running usage in one period (the pool used, credits and postpaid)."""

    __tablename__ = "usage_counters"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    sub_account_id: Mapped[str] = mapped_column(Id, primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    billable_seconds: Mapped[int] = mapped_column(BigInteger)
    included_used_seconds: Mapped[int] = mapped_column(BigInteger)
    credit_seconds_e6: Mapped[int] = mapped_column(BigInteger)
    postpaid_seconds_e6: Mapped[int] = mapped_column(BigInteger)
    credit_micros: Mapped[int] = mapped_column(Money)
    postpaid_micros: Mapped[int] = mapped_column(Money)
    calls: Mapped[int] = mapped_column(BigInteger)


class PeriodCampaignRow(Base):
    """The campaigns a sub-account's calls named in a period (counted on its invoice)."""

    __tablename__ = "period_campaigns"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    sub_account_id: Mapped[str] = mapped_column(Id, primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(200), primary_key=True)


class WalletRow(Base):
    """The cached balance of a sub-account's credits; the ledger's postings are the truth and
    the balance is checked against them. It can never go below zero."""

    __tablename__ = "wallets"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    sub_account_id: Mapped[str] = mapped_column(Id, primary_key=True)
    balance_micros: Mapped[int] = mapped_column(Money)
    __table_args__ = (CheckConstraint("balance_micros >= 0", name="not_negative"),)


class PeriodCloseRow(Base):
    __tablename__ = "period_closes"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    closed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    wholesale_invoice_number: Mapped[str] = mapped_column(String(40))
    revenue_minor: Mapped[int] = mapped_column(Money)
    cost_minor: Mapped[int] = mapped_column(Money)


class PeriodUsageRow(Base):
    """What a close recorded for one sub-account: its usage summary and its profit."""

    __tablename__ = "period_usage"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    sub_account_id: Mapped[str] = mapped_column(Id, primary_key=True)
    usage_json: Mapped[str] = mapped_column(Text)
    revenue_minor: Mapped[int] = mapped_column(Money)
    cost_minor: Mapped[int] = mapped_column(Money)


class InvoiceSequenceRow(Base):
    __tablename__ = "invoice_sequences"
    series: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_value: Mapped[int] = mapped_column(BigInteger)


class InvoiceRow(Base):
    __tablename__ = "invoices"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), primary_key=True)
    issuer: Mapped[str] = mapped_column(Id)
    kind: Mapped[str] = mapped_column(String(16))
    sub_account_id: Mapped[str | None] = mapped_column(Id, nullable=True)
    period: Mapped[str | None] = mapped_column(String(7), nullable=True)
    currency: Mapped[str] = mapped_column(String(3))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16))
    subtotal_minor: Mapped[int] = mapped_column(Money)
    tax_minor: Mapped[int] = mapped_column(Money)
    total_minor: Mapped[int] = mapped_column(Money)
    tax_label: Mapped[str] = mapped_column(String(40))
    tax_behavior: Mapped[str] = mapped_column(String(16))
    usage_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    # A credit note names the invoice it corrects.
    credit_of: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # The tax decision (docs/tax.md: null = standard) and the buyer's tax identity as they
    # were when the document was issued (JSON), so a PDF drawn later says the same.
    tax_treatment: Mapped[str | None] = mapped_column(String(20), nullable=True)
    buyer_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    __table_args__ = (
        UniqueConstraint("issuer", "number", name="uq_invoices_issuer_number"),
        UniqueConstraint("agency_id", "idempotency_key", name="uq_invoices_idempotency"),
        Index("ix_invoices_agency_period", "agency_id", "period"),
    )


class InvoiceLineRow(Base):
    __tablename__ = "invoice_lines"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[str] = mapped_column(String(32))
    unit_price: Mapped[str | None] = mapped_column(String(32), nullable=True)
    amount_micros: Mapped[int] = mapped_column(Money)
    amount_minor: Mapped[int] = mapped_column(Money)
    tax_minor: Mapped[int] = mapped_column(Money)
    __table_args__ = (
        ForeignKeyConstraint(["agency_id", "number"], ["invoices.agency_id", "invoices.number"]),
    )


class JournalEntryRow(Base):
    __tablename__ = "journal_entries"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    description: Mapped[str] = mapped_column(String(300))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    currency: Mapped[str] = mapped_column(String(3))


class PostingRow(Base):
    __tablename__ = "postings"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(200))
    amount_micros: Mapped[int] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    __table_args__ = (
        ForeignKeyConstraint(
            ["agency_id", "idempotency_key"],
            ["journal_entries.agency_id", "journal_entries.idempotency_key"],
        ),
        Index("ix_postings_agency_account", "agency_id", "account"),
    )


class CallReservationRow(Base):
    """A parallel-call slot taken by an authorization, freed by the call's record or by
    `expires_at`."""

    __tablename__ = "call_reservations"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    sub_account_id: Mapped[str] = mapped_column(Id)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    __table_args__ = (Index("ix_reservations_sub", "agency_id", "sub_account_id", "expires_at"),)


class AgencyUsageRow(Base):
    """Wholesale cost recorded so far in a period: the agency's accruing exposure."""

    __tablename__ = "agency_usage"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    wholesale_micros: Mapped[int] = mapped_column(Money)


class AlertRow(Base):
    """An alert: each (subject, metric, threshold, period) exists once, so it fires once.
    `sub_account_id` is '' for the agency's own alerts (credit limit)."""

    __tablename__ = "alerts"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    sub_account_id: Mapped[str] = mapped_column(Id, primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    threshold: Mapped[str] = mapped_column(String(16), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    message: Mapped[str] = mapped_column(String(500))
    recipients: Mapped[str] = mapped_column(String(500))
    fired_at: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class StateChangeRow(Base):
    __tablename__ = "state_changes"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    sub_account_id: Mapped[str] = mapped_column(Id, primary_key=True)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(500))


class TopUpRequestRow(Base):
    """An auto top-up asked of the payment port, once per trigger."""

    __tablename__ = "top_up_requests"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    sub_account_id: Mapped[str] = mapped_column(Id, primary_key=True)
    trigger_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    amount_micros: Mapped[int] = mapped_column(Money)
    provider: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # pending | succeeded | failed
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Charged to the saved card: the key every retry reuses, and what came of it.
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    receipt: Mapped[str | None] = mapped_column(String(40), nullable=True)
    message: Mapped[str | None] = mapped_column(String(300), nullable=True)
    charged_tax_minor: Mapped[int | None] = mapped_column(Money, nullable=True)


class ApiKeyRow(Base):
    """An API key: only a hash of its secret is kept. `agency_id` '' is the platform's."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    agency_id: Mapped[str] = mapped_column(Id)
    sub_account_id: Mapped[str] = mapped_column(Id)
    role: Mapped[str] = mapped_column(String(16))
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class IdempotencyRow(Base):
    """The first response to a POST with an Idempotency-Key, replayed for 24 h."""

    __tablename__ = "idempotency_records"
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # in_flight | done
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WebhookEndpointRow(Base):
    """An agency's webhook URL; events are signed with its secret (Standard Webhooks)."""

    __tablename__ = "webhook_endpoints"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(100))
    events: Mapped[str] = mapped_column(String(1000))  # JSON list; [] means every event
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Set when the endpoint failed too often in a row; nothing is sent to it until re-enabled.
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Failed attempts since its last success (any delivery of the endpoint).
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class WebhookDeliveryRow(Base):
    """The outbox: one row per (event, endpoint), written in the transaction that caused the
    event, sent with retries and backoff, kept for inspection and replay."""

    __tablename__ = "webhook_deliveries"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_error: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)


class GatewayLinkRow(Base):
    """The payment gateway an agency charges its clients through."""

    __tablename__ = "gateway_links"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    charges_enabled: Mapped[int] = mapped_column(Integer)
    details_submitted: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The platform's application fee on the agency's direct charges, in basis points.
    application_fee_bps: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class GatewayLinkStateRow(Base):
    """A Connect link state that was used (single use: its nonce is never accepted again).
    Rows past `expires_at` are pruned: an expired state is refused before it gets here."""

    __tablename__ = "gateway_link_states"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    used_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PlatformSecretRow(Base):
    """A secret rebill generated for itself because none was configured (the key of Connect
    link states when REBILL_SECRET_KEY is unset): one per database, so every server process
    on it signs and checks with the same one."""

    __tablename__ = "platform_secrets"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class GatewayCustomerRow(Base):
    """A payer's customer and saved card on a gateway: a sub-account on its agency's
    connected account, or (party '') the agency itself on the platform's own account."""

    __tablename__ = "gateway_customers"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    party_id: Mapped[str] = mapped_column(Id, primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    customer_id: Mapped[str] = mapped_column(String(100))
    payment_method_id: Mapped[str] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PaymentRow(Base):
    """Attempts to collect an invoice through a gateway, one idempotency key each."""

    __tablename__ = "payments"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    amount_minor: Mapped[int] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(16))
    payment_intent: Mapped[str | None] = mapped_column(String(100), nullable=True)
    code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message: Mapped[str | None] = mapped_column(String(300), nullable=True)
    customer_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    payment_method_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    fee_minor: Mapped[int | None] = mapped_column(Money, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RefundRow(Base):
    """A refund asked of the gateway and the credit note it produced (once per key)."""

    __tablename__ = "refunds"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    number: Mapped[str] = mapped_column(String(40))
    amount_minor: Mapped[int] = mapped_column(Money)
    # What the gateway is asked with (one per refund, reused by every retry of it).
    idempotency_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # pending | succeeded
    gateway_refund_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    credit_note: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CheckoutRow(Base):
    """A client action paid through a hosted checkout; applied once when it completes."""

    __tablename__ = "checkouts"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    sub_account_id: Mapped[str] = mapped_column(Id)
    action: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(String(200))  # credits: amount; upgrade: plan; number
    amount_minor: Mapped[int] = mapped_column(Money)
    tax_minor: Mapped[int] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(16))  # open | complete
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class GatewayEventRow(Base):
    """Gateway events already handled (replays are ignored by id)."""

    __tablename__ = "gateway_events"
    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WebUserRow(Base):
    """A person who signs in to the panel, the console or a client portal. `role` is
    platform, admin, billing, settings or client; the password is a salted scrypt hash."""

    __tablename__ = "web_users"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(16))
    agency_id: Mapped[str | None] = mapped_column(Id, nullable=True)
    sub_account_id: Mapped[str | None] = mapped_column(Id, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class WebSessionRow(Base):
    """A signed-in browser: only the SHA-256 of its cookie token is stored, beside the CSRF
    token its forms carry."""

    __tablename__ = "web_sessions"
    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(40), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AuditEntryRow(Base):
    """Who changed which price, cap, limit or switch, from what to what (panel and console)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agency_id: Mapped[str] = mapped_column(Id, index=True)  # '' for the platform's own
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(320))
    target: Mapped[str] = mapped_column(String(200))
    field: Mapped[str] = mapped_column(String(100))
    old_value: Mapped[str] = mapped_column(String(200))
    new_value: Mapped[str] = mapped_column(String(200))


# The rows of collection (dunning, Stripe Tax records, disputes) and of the portal's doors
# (custom domains, sign-in throttle) live beside, in their own modules; imported here so that
# every table is on `Base.metadata` (Alembic, the tests).
import rebill.adapters.db.collection_rows  # noqa: E402
import rebill.adapters.db.door_rows  # noqa: E402, F401
