"""The catalog file's shape (INTERFACES.md), validated with pydantic: unknown keys are errors
with their path; money and rates are exact (strings, or numbers read as exact decimals)."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from rebill.domain.dunning import DEFAULT_GRACE_DAYS, DEFAULT_RETRY_DAYS, policy_problems
from rebill.domain.limits import credit_purchase_max_units, credit_purchase_min_units
from rebill.domain.logo import logo_bytes_max
from rebill.domain.money import MICRO_DECIMALS, parse_decimal, places_needed
from rebill.domain.period import in_range, instant_range
from rebill.domain.rating import Increment
from rebill.domain.text import is_digits, text_problem
from rebill.services.catalog.tax_identity import checked_address, checked_country, checked_tax_id

SLUG = r"^[a-z0-9][a-z0-9-]*$"
# Sub-account ids that name something else in an agency's period (a close keeps the wholesale
# invoice under `close:{period}:wholesale`, beside `close:{period}:{sub-account}`).
RESERVED_SUB_ACCOUNT_IDS = frozenset({"wholesale"})
slug_length_max = 64
logo_text_length_max = (logo_bytes_max + 2) // 3 * 4 + 32
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def _exact(value: object) -> Decimal:
    try:
        number = parse_decimal(value)
    except TypeError as exc:
        raise ValueError(str(exc)) from exc
    if number < 0:
        raise ValueError(f"must not be negative (got {value})")
    # the exponent first: 1e999999999 must not be compared or expanded digit by digit
    if number and number.adjusted() > 12:
        raise ValueError(f"{value} is too large")
    if places_needed(number) > MICRO_DECIMALS:
        raise ValueError(f"{value} has more than {MICRO_DECIMALS} decimal places")
    if number > 10**12:
        raise ValueError(f"{value} is too large")
    return number


def _increment(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError('an increment is a string like "60/6"')
    Increment.parse(value)
    return value.strip()


def _aware(value: object) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an ISO 8601 timestamp") from exc
    else:
        raise ValueError('a timestamp is a string like "2026-10-01T00:00:00-04:00"')
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset (add one, e.g. -04:00 or Z)")
    if not in_range(parsed):
        raise ValueError(f"{value!r} is {instant_range}")
    return parsed


def _whole(value: object) -> int:
    if isinstance(value, bool | float):
        raise ValueError("must be a whole number")
    if isinstance(value, Decimal):
        if not value.is_finite() or (value and value.adjusted() > 18):
            raise ValueError(f"{value} is too large")
        if value != value.to_integral_value():
            raise ValueError(f"{value} must be a whole number")
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if is_digits(text.removeprefix("-")):
            return int(text)
    if isinstance(value, int):
        return value
    raise ValueError("must be a whole number")


Amount = Annotated[Decimal, BeforeValidator(_exact)]
IncrementText = Annotated[str, BeforeValidator(_increment)]
Timestamp = Annotated[datetime, BeforeValidator(_aware)]
Whole = Annotated[int, BeforeValidator(_whole)]
Slug = Annotated[str, Field(pattern=SLUG, max_length=slug_length_max)]
NonNegative = Annotated[Whole, Field(ge=0, le=10**9)]
Limit = Annotated[Whole, Field(ge=-1, le=10**6)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: object, info: ValidationInfo) -> object:
        """Every text can be stored (no NUL, no lone surrogate); a name has a visible
        character."""
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                raise ValueError(problem)
            if info.field_name in ("name", "display_name") and not value.strip():
                raise ValueError("a name needs a visible character")
        return value


class WholesaleVoice(Strict):
    per_minute: Amount
    increment: IncrementText = "1/1"
    connect_fee: Amount = Decimal(0)


class MonthlyPrice(Strict):
    monthly: Amount


class WholesaleVoiceSet(Strict):
    outbound: WholesaleVoice | None = None
    inbound: WholesaleVoice | None = None


class NumberPrices(Strict):
    local: MonthlyPrice | None = None
    toll_free: MonthlyPrice | None = None


class Wholesale(Strict):
    voice: WholesaleVoiceSet | None = None
    numbers: NumberPrices | None = None
    agency_monthly_fee: Amount | None = None


class BrandSpec(Strict):
    display_name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    colour: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")] = "#1f6feb"
    support_email: Annotated[str, Field(max_length=320)] = ""
    address: list[Annotated[str, Field(max_length=200)]] = []
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = "US"
    tax_id: Annotated[str, Field(max_length=40)] | None = None
    domain: Annotated[str, Field(pattern=r"^[a-z0-9.-]+\.[a-z]{2,}$", max_length=253)] | None = None
    # A data URL (base64 PNG or JPEG); from a catalog file, also a file name beside it.
    logo: Annotated[str, Field(max_length=logo_text_length_max)] | None = None


class DunningSpec(Strict):
    """After a failed off-session charge (docs/dunning.md): retries so many days after the
    first failure, then suspension once `grace_days` have passed with the invoice unpaid."""

    retry_days: list[int] = list(DEFAULT_RETRY_DAYS)
    grace_days: int = DEFAULT_GRACE_DAYS

    @model_validator(mode="after")
    def _policy_valid(self) -> DunningSpec:
        problems = policy_problems(self.retry_days, self.grace_days)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class PlatformSpec(Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    invoice_prefix: Annotated[str, Field(pattern=r"^[A-Z0-9]{1,12}$")] = "PLAT"
    brand: BrandSpec | None = None
    wholesale: Wholesale
    # The first period of `wholesale` (services/catalog/wholesale_schedule.py); absent: at once.
    wholesale_from: Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")] | None = None
    dunning: DunningSpec | None = None  # agencies' wholesale invoices, and the default


class Tax(Strict):
    mode: Literal["none", "manual", "stripe"] = "none"
    rate: Amount | None = None
    behavior: Literal["exclusive", "inclusive"] = "exclusive"
    label: Annotated[str, Field(min_length=1, max_length=40)] = "Tax"


class RetailVoice(Strict):
    overage_per_minute: Amount
    increment: IncrementText = "60/6"
    connect_fee: Amount = Decimal(0)


class RetailVoiceSet(Strict):
    outbound: RetailVoice
    inbound: RetailVoice


class PlanNumbers(Strict):
    included: NonNegative = 0
    local: MonthlyPrice | None = None
    toll_free: MonthlyPrice | None = None


class Limits(Strict):
    campaigns: Limit | None = None
    numbers: Limit | None = None
    parallel_calls: Limit | None = None


class PlanSpec(Strict):
    id: Slug
    name: Annotated[str, Field(min_length=1, max_length=200)]
    monthly_fee: Amount
    included_minutes: NonNegative = 0
    overage: Literal["postpaid", "prepaid"] = "postpaid"
    voice: RetailVoiceSet
    numbers: PlanNumbers = PlanNumbers()
    limits: Limits = Limits()
    # When a change to a plan that clients are on reaches them: `now` (at once, mid-period),
    # `next_period` (from the first day of the next billing period; the current period keeps
    # the old terms) or `new_clients` (the clients on it keep the old terms until moved). An
    # instruction for this apply: not stored, not exported.
    takes_effect: Literal["now", "next_period", "new_clients"] = "now"


class Caps(Strict):
    monthly_spend: Amount | None = None
    monthly_minutes: NonNegative | None = None
    alerts: list[Amount] = []
    enforcement: Literal["block", "notify"] = "notify"


class AutoTopUp(Strict):
    """Charges a client's saved card with no person present: bounded like a checkout
    purchase (and at most `top_ups_per_day_max` a day, when they are requested)."""

    threshold: Amount
    amount: Amount

    @field_validator("amount")
    @classmethod
    def _amount_bounded(cls, value: Decimal) -> Decimal:
        if not credit_purchase_min_units <= value <= credit_purchase_max_units:
            raise ValueError(
                f"an automatic top-up is from {credit_purchase_min_units} to "
                f"{credit_purchase_max_units}, like a checkout purchase"
            )
        return value

    @field_validator("threshold")
    @classmethod
    def _threshold_bounded(cls, value: Decimal) -> Decimal:
        if value > credit_purchase_max_units:
            raise ValueError(
                f"the threshold is at most {credit_purchase_max_units} (the largest purchase)"
            )
        return value


class NumberSpec(Strict):
    e164: str
    type: Literal["local", "toll_free"] = "local"
    rented_at: Timestamp | None = None
    released_at: Timestamp | None = None


class SubAccountSpec(Strict):
    """A client. `country`, `tax_id` and `address` are its tax identity (docs/tax.md): the
    country is an ISO 3166-1 alpha-2 code that exists (left out: unknown, and Stripe Tax
    places the sale in the US as before), the tax ID is checked (EU VAT numbers by their check
    digits) and kept in its compact form."""

    id: Slug
    name: Annotated[str, Field(min_length=1, max_length=200)]
    email: Annotated[str, Field(max_length=320)] = ""
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    tax_id: str | None = None
    address: list[Annotated[str, Field(max_length=200)]] = []
    plan: Slug
    subscribed_at: Timestamp | None = None
    limits: Limits = Limits()
    caps: Caps | None = None
    auto_top_up: AutoTopUp | None = None
    numbers: list[NumberSpec] | None = None

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_SUB_ACCOUNT_IDS:
            raise ValueError(
                f"{value!r} is reserved (the agency's wholesale invoice of a period is kept "
                "under it); choose another id"
            )
        return value

    @field_validator("country")
    @classmethod
    def _country_exists(cls, value: str | None) -> str | None:
        return checked_country(value)

    @field_validator("tax_id")
    @classmethod
    def _tax_id_valid(cls, value: str | None, info: ValidationInfo) -> str | None:
        return checked_tax_id(value, info.data.get("country"))

    @field_validator("address")
    @classmethod
    def _address_lines(cls, value: list[str]) -> list[str]:
        return checked_address(value)


class AgencySpec(Strict):
    id: Slug
    name: Annotated[str, Field(min_length=1, max_length=200)]
    timezone: str = "UTC"
    invoice_prefix: Annotated[str, Field(pattern=r"^[A-Z0-9]{1,12}$")]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None
    tax: Tax = Tax()
    credit_limit: Amount | None = None
    brand: BrandSpec | None = None
    wholesale: Wholesale | None = None
    dunning: DunningSpec | None = None  # agency-owned; without one, the platform's
    plans: list[PlanSpec] = []
    sub_accounts: list[SubAccountSpec] = []


class CatalogSpec(Strict):
    platform: PlatformSpec | None = None
    agencies: list[AgencySpec] = []
