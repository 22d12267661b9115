"""Request and response shapes of the API. Amounts are strings beside a `currency`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictFloat,
    StrictInt,
)

from rebill.domain.text import text_problem

calls_per_request_max = 1_000
page_limit_max = 100


class Problem(BaseModel):
    """RFC 9457 problem details with a stable `code` and, when one field is at fault, `param`."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    param: str | None = None
    errors: list[dict[str, Any]] | None = None


# A call record's fields are short labels; the service enforces each one's own limit and
# rejects that record alone, this only stops megabytes from being parsed at all.
call_field_length_max = 1000
CallText = Annotated[str, Field(max_length=call_field_length_max)]
# A record's value as sent, any JSON scalar: taken as it is (no `true` read as 1, no 60.0 as 60)
# and judged per record by the service, as a usage file's is: a number where text is expected
# is its text (a numeric call id), `true` is that record's rejection, never the batch's 422.
# JSON numbers are already bounded to 40 characters by the body reader.


def _unstorable_text(value: Any) -> str:
    """Text pydantic's strings cannot hold (a lone surrogate, which Python's JSON parser gives
    for `"\\ud800"`): taken as sent, so that the service rejects that record alone, naming
    the field (`domain.text.text_problem`), as it does a usage file's; not the batch's 422."""
    if isinstance(value, str) and len(value) <= call_field_length_max and text_problem(value):
        return value
    raise ValueError("not text")


UnstorableText = Annotated[str, PlainValidator(_unstorable_text, json_schema_input_type=str)]
CallScalar = StrictInt | StrictFloat | StrictBool | CallText | UnstorableText


class CallFields(BaseModel):
    """A call as the usage file has it; every field optional here so that a missing one
    rejects that record (with its reason), not the batch."""

    model_config = ConfigDict(extra="ignore")

    call_id: CallScalar | None = None
    sub_account: CallScalar | None = None
    started_at: CallScalar | None = None
    duration_seconds: CallScalar | None = None
    direction: CallScalar | None = None
    campaign_id: CallScalar | None = None
    phone_number: CallScalar | None = None
    status: CallScalar | None = None


class CallIn(CallFields):
    """A call, or a CloudEvents envelope around one (`specversion`, `id`, `time`, `data`)."""

    specversion: CallScalar | None = None
    id: CallScalar | None = None
    time: CallScalar | None = None
    type: CallScalar | None = None
    source: CallScalar | None = None
    # anything else than an object is that record's rejection (naming `data`), not the batch's
    data: CallFields | CallScalar | list[Any] | None = None

    def record(self) -> dict[str, Any]:
        """The record as a dict without its unset fields: `model_dump(exclude_none=True)`, read
        straight from the validated fields (the fields are plain values, `data` the only model;
        a third of the cost per record, issue 13)."""
        record = {name: value for name, value in self.__dict__.items() if value is not None}
        data = record.get("data")
        if isinstance(data, CallFields):
            record["data"] = {k: v for k, v in data.__dict__.items() if v is not None}
        return record


class CallsIn(BaseModel):
    calls: list[CallIn] = Field(min_length=1, max_length=calls_per_request_max)


class RecordError(BaseModel):
    code: str
    message: str
    param: str | None = None
    fields: list[str] | None = None  # a conflict: the fields that differ from the stored call


class CallResult(BaseModel):
    call_id: str | None
    status: Literal["accepted", "duplicate", "conflict", "rejected"]
    error: RecordError | None = None


class CallsOut(BaseModel):
    results: list[CallResult]


class AuthorizeIn(BaseModel):
    sub_account: str = Field(max_length=64)
    direction: str = Field(max_length=16)
    call_id: str | None = Field(None, max_length=200)
    campaign_id: str | None = Field(None, min_length=1, max_length=100)


class AuthorizeOut(BaseModel):
    allowed: bool
    max_duration_seconds: int | None
    reason: str | None
    call_id: str | None = None
    slot_expires_at: str | None = None


class Line(BaseModel):
    code: str
    description: str
    quantity: str
    unit_price: str | None
    amount: str
    tax: str


class Invoice(BaseModel):
    id: str
    number: str
    kind: str
    issuer: str
    agency: str
    sub_account: str | None
    period: str | None
    issued_at: str
    status: str
    currency: str
    lines: list[Line]
    subtotal: str
    tax: str
    total: str
    usage: dict[str, Any] | None
    credit_of: str | None = None


class PaymentAttempt(BaseModel):
    attempt: int
    status: Literal["pending", "succeeded", "failed", "requires_action", "duplicate", "returned"]
    idempotency_key: str
    payment_intent: str | None
    code: str | None
    message: str | None


class InvoiceCharge(BaseModel):
    number: str
    kind: str
    status: str
    total: str
    currency: str
    attempts: list[PaymentAttempt]


class RefundIn(BaseModel):
    amount: str | None = Field(
        None, max_length=32, description="Part of the total; all that is left when absent"
    )


class Refund(BaseModel):
    invoice: str
    credit_note: str
    amount: str
    currency: str
    refund: str | None
    refunded: str
    status: str


class InvoiceList(BaseModel):
    data: list[Invoice]
    has_more: bool


class Agency(BaseModel):
    id: str
    name: str
    timezone: str
    currency: str
    invoice_prefix: str
    tax_mode: str
    credit_limit: str | None


class AgencyList(BaseModel):
    data: list[Agency]
    has_more: bool


class Plan(BaseModel):
    id: str
    name: str
    currency: str
    monthly_fee: str
    included_minutes: int
    overage: str
    voice: dict[str, dict[str, str]]
    included_numbers: int
    numbers: dict[str, str]
    limits: dict[str, int | None]


class PlanList(BaseModel):
    data: list[Plan]
    has_more: bool


class SubAccount(BaseModel):
    id: str
    agency: str
    name: str
    email: str
    state: str
    plan: str | None
    currency: str
    credits: str
    caps: dict[str, Any]
    limits: dict[str, int | None]
    country: str | None = None
    tax_id: str | None = None
    address: list[str] = []


class TaxIdentityIn(BaseModel):
    """A client's tax identity (docs/tax.md): each key given replaces the stored value
    (`null` clears it); a key left out keeps it."""

    model_config = ConfigDict(extra="forbid")

    country: str | None = Field(None, max_length=2)
    tax_id: str | None = Field(None, max_length=40)
    address: list[str] | None = Field(None, max_length=5)


class SubAccountList(BaseModel):
    data: list[SubAccount]
    has_more: bool


class Credits(BaseModel):
    id: str
    sub_account: str
    currency: str
    balance: str


class CreditsIn(BaseModel):
    amount: str = Field(max_length=32)
    reference: str | None = Field(None, max_length=200)


class CreditPurchase(BaseModel):
    id: str
    receipt: str
    sub_account: str
    currency: str
    balance: str


class CapsIn(BaseModel):
    monthly_spend: str | None = Field(None, max_length=32)
    monthly_minutes: str | None = Field(None, max_length=16)
    alerts: list[str] | None = Field(None, max_length=10)
    enforcement: Literal["block", "notify"] | None = None


class AutoTopUpIn(BaseModel):
    threshold: str | None = Field(None, max_length=32)
    amount: str | None = Field(None, max_length=32)


class StateIn(BaseModel):
    state: Literal["active", "suspended", "closed"]
    reason: str = Field("", max_length=500)


class StateOut(BaseModel):
    id: str
    from_state: str
    to_state: str


class PeriodOut(BaseModel):
    id: str
    agency: str
    status: Literal["open", "closed"]
    document: dict[str, Any] | None = None


class UsageRow(BaseModel):
    sub_account: str
    billable_minutes: str
    included_minutes_used: str
    credit_minutes: str
    postpaid_minutes: str
    numbers: int
    campaigns: int


class UsageReport(BaseModel):
    id: str
    agency: str
    period: str
    status: str
    data: list[UsageRow]


class CampaignTotals(BaseModel):
    sub_account: str
    calls: int
    billable_seconds: int
    billable_minutes: str
    retail_amount: str
    wholesale_cost: str
    profit: str


class CampaignUsageRow(CampaignTotals):
    campaign: str | None


class CampaignUsageReport(BaseModel):
    """`group_by=campaign`: one row per sub-account and campaign, and each sub-account's
    totals (the sums of its rows; amounts exact to the micro-unit)."""

    id: str
    agency: str
    period: str
    status: str
    group_by: str
    currency: str
    data: list[CampaignUsageRow]
    sub_accounts: list[CampaignTotals]


class ProfitRow(BaseModel):
    sub_account: str
    revenue: str
    cost: str
    profit: str


class ProfitReport(BaseModel):
    id: str
    agency: str
    period: str
    currency: str
    revenue: str
    cost: str
    profit: str
    data: list[ProfitRow]


class AlertOut(BaseModel):
    id: str
    agency: str
    sub_account: str | None
    metric: str
    threshold: str
    period: str
    message: str
    fired_at: str
    delivered_at: str | None


class AlertList(BaseModel):
    data: list[AlertOut]
    has_more: bool


class ApplyOut(BaseModel):
    id: str
    created: dict[str, int]
    updated: dict[str, int]
    receipts: list[str]


class DomainIn(BaseModel):
    domain: str = Field(max_length=253)


class DomainCheck(BaseModel):
    type: str
    name: str
    value: str


class Domain(BaseModel):
    domain: str
    agency: str
    status: Literal["pending", "active", "inactive"]
    requested_at: str
    activated_at: str | None
    verification: DomainCheck | None


class DomainList(BaseModel):
    data: list[Domain]
    has_more: bool


class WebhookEndpointIn(BaseModel):
    url: str = Field(max_length=2000)
    events: list[str] = Field(default_factory=list, max_length=10)


class WebhookEndpointCreated(BaseModel):
    id: str
    url: str
    events: list[str]
    secret: str


class WebhookEndpointDeleted(BaseModel):
    id: str
    deleted: bool


class WebhookEndpoint(BaseModel):
    id: str
    url: str
    events: list[str]
    created_at: str
    # Disabled after too many failed attempts in a row; registering its URL again enables it.
    disabled: bool
    disabled_at: str | None
    consecutive_failures: int


class WebhookEndpointList(BaseModel):
    data: list[WebhookEndpoint]
    has_more: bool


class WebhookDelivery(BaseModel):
    id: str
    endpoint: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: str
    delivered_at: str | None


class WebhookDeliveryList(BaseModel):
    data: list[WebhookDelivery]
    has_more: bool
