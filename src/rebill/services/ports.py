"""Ports: the plain data and the interfaces the services need from the outside world. The
adapters implement them; `bootstrap.py` picks which. The `Store` protocol mirrors the SQL
store's repository methods so services can be run against a fake."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol

from rebill.domain.account import Agency, Brand, Platform, SubAccount
from rebill.domain.caps import Caps
from rebill.domain.charges import HeldNumber, PlanChange
from rebill.domain.gateway import (
    AccountStatus,
    ChargeOutcome,
    ChargeRequest,
    CheckoutRequest,
    CheckoutSession,
    PaymentAttempt,
    SavedCard,
    TaxSettingsView,
)
from rebill.domain.invoice import InvoiceDraft
from rebill.domain.ledger import JournalEntry
from rebill.domain.plan import Plan, WholesaleCard
from rebill.domain.rating import VoiceRate
from rebill.domain.usage import CallFunding, PeriodUsage


@dataclass(frozen=True)
class CallRecord:
    """A validated call record, ready to store."""

    call_id: str
    sub_account_id: str
    started_at: datetime
    duration_seconds: int
    direction: str
    campaign_id: str | None = None
    phone_number: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class StoredLine:
    code: str
    description: str
    quantity: str
    unit_price: str | None
    amount_minor: int
    tax_minor: int


@dataclass(frozen=True)
class StoredInvoice:
    number: str
    agency_id: str
    issuer: str
    kind: str
    sub_account_id: str | None
    period: str | None
    currency: str
    issued_at: datetime
    status: str
    subtotal_minor: int
    tax_minor: int
    total_minor: int
    tax_label: str
    usage: dict[str, Any] | None
    lines: list[StoredLine] = field(default_factory=list)
    tax_behavior: str = "exclusive"
    credit_of: str | None = None


@dataclass(frozen=True)
class RatedCall:
    """A call with both ratings and how its retail side was paid."""

    call: CallRecord
    period: str
    late: bool
    funding: CallFunding
    wholesale_billable_seconds: int
    wholesale_cost_micros: int


@dataclass(frozen=True)
class CallTotals:
    """Sums over a group of calls (per sub-account, period, direction, retail rate)."""

    sub_account_id: str
    period: str
    direction: str
    rate_micros: int
    rate_decimals: int
    postpaid_micros: int
    postpaid_seconds_e6: int
    credit_micros: int
    wholesale_billable_seconds: int
    wholesale_cost_micros: int


@dataclass(frozen=True)
class AuthorizationSnapshot:
    """What an authorization reads about a sub-account, in one query."""

    sub_account: SubAccount
    billable_seconds: int
    included_used_seconds: int
    spent_micros: int
    wallet_micros: int
    active_calls: int


@dataclass(frozen=True)
class Alert:
    agency_id: str
    sub_account_id: str  # '' for the agency itself
    metric: str
    threshold: str
    period: str
    message: str
    recipients: tuple[str, ...]
    fired_at: datetime
    delivered_at: datetime | None = None


class Mailer(Protocol):
    def send(self, recipients: Sequence[str], subject: str, body: str) -> None: ...


class PaymentGateway(Protocol):
    """A payment provider, plain data in and out (implemented by the Stripe adapter). Another
    provider implements the same methods, raising GatewayError(code "unsupported") for what
    it does not offer (Connect onboarding, Stripe Tax), and is registered in bootstrap."""

    def account_status(self, account_id: str) -> AccountStatus: ...

    def tax_settings(self, account_id: str) -> TaxSettingsView: ...

    def create_checkout(
        self, account_id: str, request: CheckoutRequest, idempotency_key: str
    ) -> CheckoutSession: ...

    def verify_webhook(self, payload: bytes, signature: str | None) -> dict[str, Any]: ...

    def calculate_tax(
        self, account_id: str, currency: str, country: str, amounts: list[int], behavior: str
    ) -> list[int]: ...

    def create_account(self, country: str, email: str | None) -> AccountStatus: ...

    def account_link(self, account_id: str, refresh_url: str, return_url: str) -> str: ...

    def oauth_url(self, state: str, redirect_uri: str) -> str: ...

    def oauth_exchange(self, code: str) -> str: ...

    def save_card(
        self, account_id: str | None, name: str, email: str | None, payment_method: str
    ) -> SavedCard: ...

    def create_customer(self, account_id: str | None, name: str, email: str | None) -> str: ...

    def find_refund(
        self, account_id: str | None, payment_intent: str, idempotency_key: str
    ) -> str | None: ...

    def find_charge(
        self, account_id: str | None, customer_id: str, idempotency_key: str
    ) -> ChargeOutcome | None: ...

    def card_of_payment(self, account_id: str | None, payment_intent: str) -> SavedCard | None: ...

    def charge(
        self, account_id: str | None, request: ChargeRequest, idempotency_key: str
    ) -> ChargeOutcome: ...

    def refund(
        self,
        account_id: str | None,
        payment_intent: str,
        amount_minor: int,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> str: ...


class InvoiceRenderer(Protocol):
    """Draws an invoice document in its issuer's brand (PDF bytes)."""

    def render(
        self,
        invoice: StoredInvoice,
        issuer: Brand,
        recipient_name: str,
        recipient_email: str,
        factur_x: bool,
    ) -> bytes: ...


class WebhookSender(Protocol):
    """Sends to agency-chosen URLs: it must connect only to public addresses (unless the
    platform allows private ones), checked at every send, and word every failure short of an
    HTTP status the same way (a scanner learns nothing from refused versus timed out)."""

    def post(self, url: str, headers: dict[str, str], body: str) -> str | None:
        """POST the body; None on a 2xx answer, else a short error text."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class PeriodCloseRecord(Protocol):
    agency_id: str
    period: str
    closed_at: datetime
    wholesale_invoice_number: str
    revenue_minor: int
    cost_minor: int


class PeriodUsageRecord(Protocol):
    agency_id: str
    period: str
    sub_account_id: str
    usage_json: str
    revenue_minor: int
    cost_minor: int


class Store(Protocol):
    """What services need from storage (implemented by `adapters.db.store.SqlStore`)."""

    def get_platform(self) -> Platform | None: ...
    def brand(self, agency_id: str | None) -> Brand: ...
    def save_brand(self, agency_id: str | None, brand: Brand) -> None: ...
    def agency_for_domain(self, domain: str) -> str | None: ...
    def get_platform_fee_micros(self) -> int: ...
    def save_platform(self, platform: Platform, agency_monthly_fee_micros: int | None) -> None: ...
    def save_wholesale(
        self, scope: str, voice: dict[str, VoiceRate], numbers: dict[str, int]
    ) -> None: ...
    def wholesale_card(self, agency_id: str) -> WholesaleCard: ...
    def get_agency(self, agency_id: str) -> Agency | None: ...
    def list_agency_ids(self) -> list[str]: ...
    def agency_with_prefix(self, prefix: str) -> str | None: ...
    def prefix_issued(self, prefix: str) -> bool: ...
    def save_agency(
        self, agency: Agency, agency_monthly_fee_micros: int | None, now: datetime
    ) -> None: ...
    def save_plan(self, agency_id: str, plan: Plan) -> None: ...
    def plans(self, agency_id: str, ids: set[str] | None = None) -> dict[str, Plan]: ...
    def get_sub_account(self, agency_id: str, sub_account_id: str) -> SubAccount | None: ...
    def sub_accounts(
        self, agency_id: str, ids: set[str] | None = None
    ) -> dict[str, SubAccount]: ...
    def sub_account_ids(self, agency_id: str) -> list[str]: ...
    def sub_account_countries(self, agency_id: str) -> dict[str, str]: ...
    def save_sub_account(self, sub: SubAccount, country: str, now: datetime) -> None: ...
    def set_caps(self, agency_id: str, sub_account_id: str, caps: Caps) -> None: ...
    def set_state(
        self, agency_id: str, sub_account_id: str, state: str, actor: str, reason: str, at: datetime
    ) -> str: ...
    def state_changes(self, agency_id: str, sub_account_id: str) -> list[dict[str, Any]]: ...
    def authorization_snapshot(
        self,
        agency_id: str,
        sub_account_id: str,
        period: str,
        now: datetime,
        call_id: str | None = None,
    ) -> AuthorizationSnapshot | None: ...
    def reserve_call(
        self, agency_id: str, call_id: str, sub_account_id: str, expires_at: datetime
    ) -> None: ...
    def release_calls(self, agency_id: str, call_ids: Sequence[str]) -> None: ...
    def add_agency_usage(self, agency_id: str, micros_by_period: dict[str, int]) -> None: ...
    def agency_exposure_micros(self, agency_id: str) -> int: ...
    def add_alert(self, alert: Alert) -> bool: ...
    def alerts(self, agency_id: str | None = None, pending: bool = False) -> list[Alert]: ...
    def mark_alert_delivered(self, alert: Alert, at: datetime) -> None: ...
    def add_top_up_request(
        self,
        agency_id: str,
        sub_account_id: str,
        trigger_key: str,
        amount_micros: int,
        provider: str,
        at: datetime,
    ) -> bool: ...
    def top_ups_since(self, agency_id: str, sub_account_id: str, since: datetime) -> int: ...
    def top_up_requests(self, agency_id: str) -> list[dict[str, Any]]: ...
    def top_up_request(
        self, agency_id: str, sub_account_id: str, trigger_key: str
    ) -> dict[str, Any] | None: ...
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
    ) -> None: ...
    def plan_history(
        self, agency_id: str, plans: dict[str, Plan], subs: set[str] | None = None
    ) -> dict[str, list[PlanChange]]: ...
    def plan_history_of(self, agency_id: str, sub_account_id: str) -> list[PlanChange]: ...
    def add_plan_change(
        self, agency_id: str, sub_account_id: str, change: PlanChange, now: datetime
    ) -> None: ...
    def drop_future_changes(self, agency_id: str, sub_account_id: str, after: datetime) -> None: ...
    def numbers(self, agency_id: str) -> dict[str, list[HeldNumber]]: ...
    def numbers_of(self, agency_id: str, sub_account_id: str) -> list[HeldNumber]: ...
    def number_holder(self, agency_id: str, e164: str) -> str | None: ...
    def add_number(self, agency_id: str, sub_account_id: str, number: HeldNumber) -> None: ...
    def release_number(self, agency_id: str, number: HeldNumber, at: datetime) -> None: ...
    def lock_agency(self, agency_id: str, exclusive: bool) -> None: ...
    def existing_call_ids(self, agency_id: str, call_ids: Sequence[str]) -> set[str]: ...
    def insert_calls(self, agency_id: str, calls: Sequence[RatedCall]) -> None: ...
    def usage_counters(
        self,
        agency_id: str,
        period: str | None = None,
        keys: Iterable[tuple[str, str]] | None = None,
        for_update: bool = False,
    ) -> dict[tuple[str, str], PeriodUsage]: ...
    def save_usage_counters(
        self,
        agency_id: str,
        counters: dict[tuple[str, str], PeriodUsage],
        existing: set[tuple[str, str]],
    ) -> None: ...
    def wallet_balances(
        self, agency_id: str, subs: Iterable[str] | None = None, for_update: bool = False
    ) -> dict[str, int]: ...
    def set_wallet_balances(
        self, agency_id: str, balances: dict[str, int], existing: set[str] | None = None
    ) -> None: ...
    def add_to_wallet(self, agency_id: str, sub_account_id: str, delta_micros: int) -> int: ...
    def add_period_campaigns(self, agency_id: str, items: set[tuple[str, str, str]]) -> None: ...
    def campaign_counts(self, agency_id: str, period: str) -> dict[str, int]: ...
    def period_call_totals(self, agency_id: str, period: str) -> list[CallTotals]: ...
    def claim_late_calls(self, agency_id: str, period: str) -> None: ...
    def late_call_totals(self, agency_id: str, period: str) -> list[CallTotals]: ...
    def period_close(self, agency_id: str, period: str) -> PeriodCloseRecord | None: ...
    def closed_periods(self, agency_id: str) -> list[str]: ...
    def save_period_close(
        self,
        agency_id: str,
        period: str,
        closed_at: datetime,
        wholesale_number: str,
        revenue_minor: int,
        cost_minor: int,
    ) -> None: ...
    def save_period_usage(
        self, agency_id: str, period: str, rows: Sequence[tuple[str, dict[str, object], int, int]]
    ) -> None: ...
    def period_usage(self, agency_id: str, period: str) -> list[PeriodUsageRecord]: ...
    def reserve_invoice_numbers(self, issuer_prefix: str, kind: str, count: int) -> list[str]: ...
    def invoice_by_key(self, agency_id: str, key: str) -> str | None: ...
    def lock_invoice(self, agency_id: str, number: str) -> None: ...
    def mark_invoice(self, agency_id: str, number: str, status: str) -> str | None: ...
    def save_invoices(self, items: Sequence[tuple[InvoiceDraft, str, str]]) -> None: ...
    def invoices(
        self,
        agency_id: str | None = None,
        period: str | None = None,
        kind: str | None = None,
        number: str | None = None,
    ) -> list[StoredInvoice]: ...
    def save_api_key(
        self,
        key_id: str,
        agency_id: str,
        sub_account_id: str,
        role: str,
        secret_sha256: str,
        now: datetime,
    ) -> None: ...
    def revoke_api_key(self, key_id: str, now: datetime) -> bool: ...
    def api_key(self, key_id: str) -> tuple[str, str, str, str, bool] | None: ...
    def idempotency_record(
        self, key_id: str, key: str
    ) -> tuple[str, str, int, str, datetime] | None: ...
    def start_idempotent(
        self, key_id: str, key: str, request_sha256: str, now: datetime
    ) -> bool: ...
    def finish_idempotent(self, key_id: str, key: str, status_code: int, body: str) -> None: ...
    def forget_idempotent(self, key_id: str, key: str) -> None: ...
    def gateway_link(self, agency_id: str) -> tuple[str, str | None, bool, bool] | None: ...
    def save_gateway_link(
        self,
        agency_id: str,
        provider: str,
        account_id: str | None,
        charges_enabled: bool,
        details_submitted: bool,
        now: datetime,
    ) -> None: ...
    def application_fee_bps(self, agency_id: str) -> int: ...
    def set_application_fee_bps(self, agency_id: str, fee_bps: int) -> bool: ...
    def save_gateway_customer(
        self,
        agency_id: str,
        party_id: str,
        provider: str,
        account_id: str | None,
        card: SavedCard,
        now: datetime,
    ) -> None: ...
    def gateway_customer(
        self, agency_id: str, party_id: str
    ) -> tuple[str, str | None, SavedCard] | None: ...
    def payments_of(
        self, agency_id: str, number: str, for_update: bool = False
    ) -> list[PaymentAttempt]: ...
    def save_payment(self, agency_id: str, payment: PaymentAttempt, now: datetime) -> None: ...
    def payments_with_status(
        self, status: str, agency_ids: list[str] | None = None
    ) -> list[tuple[str, PaymentAttempt]]: ...
    def refund_record(self, agency_id: str, key: str) -> dict[str, Any] | None: ...
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
    ) -> None: ...
    def refunded_minor(self, agency_id: str, number: str) -> int: ...
    def pending_refund(self, agency_id: str, number: str) -> dict[str, Any] | None: ...
    def agency_for_account(self, account_id: str) -> str | None: ...
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
    ) -> None: ...
    def checkout(
        self, agency_id: str, checkout_id: str, for_update: bool = False
    ) -> dict[str, Any] | None: ...
    def complete_checkout(self, agency_id: str, checkout_id: str, now: datetime) -> None: ...
    def record_gateway_event(
        self, provider: str, event_id: str, event_type: str, account_id: str | None, now: datetime
    ) -> bool: ...
    def save_webhook_endpoint(
        self,
        agency_id: str,
        endpoint_id: str,
        url: str,
        secret: str,
        events: list[str],
        now: datetime,
    ) -> None: ...
    def webhook_endpoints(self, agency_id: str) -> list[dict[str, Any]]: ...
    def webhook_endpoints_for(self, agency_id: str) -> list[tuple[str, list[str]]]: ...
    def enable_webhook_endpoint(
        self, agency_id: str, endpoint_id: str, secret: str | None, events: list[str] | None
    ) -> bool: ...
    def count_endpoint_result(self, agency_id: str, endpoint_id: str, ok: bool) -> int: ...
    def disable_webhook_endpoint(
        self, agency_id: str, endpoint_id: str, now: datetime, error: str
    ) -> None: ...
    def queue_delivery(
        self,
        agency_id: str,
        delivery_id: str,
        endpoint_id: str,
        event_id: str,
        event_type: str,
        payload: str,
        now: datetime,
    ) -> None: ...
    def due_deliveries(
        self, now: datetime, limit: int, per_agency_limit: int
    ) -> list[dict[str, Any]]: ...
    def finish_delivery(
        self,
        agency_id: str,
        delivery_id: str,
        status: str,
        attempts: int,
        next_attempt_at: datetime,
        error: str,
        delivered_at: datetime | None,
    ) -> None: ...
    def replay_delivery(self, agency_id: str, delivery_id: str, now: datetime) -> bool: ...
    def webhook_deliveries(self, agency_id: str) -> list[dict[str, Any]]: ...
    def has_entry(self, agency_id: str, key: str) -> bool: ...
    def post_entry(self, entry: JournalEntry) -> bool: ...
    def post_entries(self, entries: Sequence[JournalEntry]) -> None: ...
    def claim_entry(
        self, agency_id: str, key: str, description: str, occurred_at: datetime, currency: str
    ) -> bool: ...
    def add_postings(
        self, agency_id: str, key: str, currency: str, postings: Sequence[tuple[str, int]]
    ) -> None: ...
    def entry_amount(self, agency_id: str, key: str, account: str) -> int | None: ...
    def account_balance_micros(self, agency_id: str, account: str) -> int: ...
    def account_balances(self, agency_id: str, prefix: str) -> dict[str, int]: ...
    def unbalanced_entries(self) -> list[tuple[str, str]]: ...
    def save_web_user(
        self,
        user_id: str,
        email: str,
        password_hash: str,
        role: str,
        agency_id: str | None,
        sub_account_id: str | None,
        now: datetime,
    ) -> None: ...
    def set_web_password(self, user_id: str, password_hash: str) -> None: ...
    def web_user_by_email(self, email: str) -> dict[str, Any] | None: ...
    def web_user(self, user_id: str) -> dict[str, Any] | None: ...
    def web_users(self, agency_id: str | None) -> list[dict[str, Any]]: ...
    def save_web_session(
        self, token_sha256: str, user_id: str, csrf_token: str, now: datetime, expires_at: datetime
    ) -> None: ...
    def web_session(self, token_sha256: str) -> tuple[str, str, datetime] | None: ...
    def delete_web_session(self, token_sha256: str) -> None: ...
    def delete_expired_web_sessions(self, now: datetime) -> None: ...
    def lock_sign_in_throttle(
        self, kind: str, key_sha256: str, now: datetime
    ) -> tuple[int, datetime]: ...
    def save_sign_in_throttle(
        self, kind: str, key_sha256: str, failures: int, last_failure_at: datetime
    ) -> None: ...
    def delete_sign_in_throttles_before(self, before: datetime) -> None: ...
    def add_audit_entry(
        self,
        agency_id: str,
        at: datetime,
        actor: str,
        target: str,
        field: str,
        old_value: str,
        new_value: str,
    ) -> None: ...
    def audit_entries(self, agency_id: str, limit: int) -> list[dict[str, Any]]: ...
    def call_starts(
        self, agency_id: str, sub_account_id: str, start: datetime, end: datetime
    ) -> list[tuple[datetime, int]]: ...
    def wholesale_cost_by_sub_account(self, agency_id: str, period: str) -> dict[str, int]: ...
    def wholesale_override(
        self, agency_id: str
    ) -> tuple[int | None, dict[str, VoiceRate], dict[str, int]]: ...


@dataclass(frozen=True)
class CustomDomain:
    """An agency's custom portal host: pending (asked), active (approved or proven by DNS) or
    inactive (replaced by another)."""

    agency_id: str
    domain: str
    status: str
    token: str
    requested_at: datetime
    activated_at: datetime | None


class DomainRepository(Protocol):
    def get(self, agency_id: str, domain: str) -> CustomDomain | None: ...
    def of_agency(self, agency_id: str) -> list[CustomDomain]: ...
    def all(self) -> list[CustomDomain]: ...
    def owner(self, domain: str) -> str | None: ...
    def add(self, agency_id: str, domain: str, token: str, at: datetime) -> None: ...
    def activate(self, agency_id: str, domain: str, at: datetime) -> bool: ...
    def remove(self, agency_id: str, domain: str) -> bool: ...
    def deactivate_all(self, agency_id: str) -> None: ...


class DomainResolver(Protocol):
    """DNS, as far as proving control of a domain needs it."""

    def txt_records(self, name: str) -> list[str]:
        """The TXT strings at `name` ([] when there are none or the name does not exist)."""
        ...


class LinkStateRepository(Protocol):
    """The platform's generated secret for Connect link states, and the states used."""

    def signing_secret(self, candidate: str, now: datetime) -> str:
        """The stored secret; `candidate` is stored (and returned) when there is none yet."""
        ...

    def consume(
        self, agency_id: str, nonce: str, purpose: str, expires_at: datetime, now: datetime
    ) -> bool:
        """Record a state's nonce as used; False when it was used before (a replay)."""
        ...


class UnitOfWork(Protocol):
    """A transaction: leaving the `with` block without `commit()` rolls back."""

    store: Store
    domains: DomainRepository
    link_states: LinkStateRepository

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
