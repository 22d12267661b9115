"""Payment gateways as plain data (saleor's rule: plain data in, plain data out) and the Stripe
Tax readiness rule (BILLING_MODEL §10): before any checkout and before finalizing invoices in
`stripe` tax mode, the agency's account must have active tax settings; each missing item is
named with its fix, and no registration means tax will calculate as 0.00."""

from __future__ import annotations

from dataclasses import dataclass, field

from rebill.domain.money import round_div

CHECKOUT_ACTIONS = ("credits", "upgrade", "number", "invoice")

FIX_HEAD_OFFICE = (
    "Set your head office address (at least the country): Stripe Dashboard → "
    "Settings → Tax → Business address"
)
FIX_TAX_CODE = (
    "Choose a preset product tax code, e.g. 'General - Electronically Supplied "
    "Services' (txcd_10000000): Settings → Tax → Defaults"
)
FIX_BEHAVIOR = (
    "Select a default tax behaviour: exclusive, inclusive or inferred by currency: "
    "Settings → Tax → Defaults"
)
FIX_REGISTRATION = (
    "Add at least one tax registration where you collect tax: Settings → Tax "
    "→ Registrations (without one, tax calculates as 0.00)"
)
ALL_FIXES = (FIX_HEAD_OFFICE, FIX_TAX_CODE, FIX_BEHAVIOR, FIX_REGISTRATION)
# Stripe's `status_details.pending.missing_fields` names, mapped to the fix for each.
MISSING_FIELD_FIXES = {
    "head_office": FIX_HEAD_OFFICE,
    "head_office.address": FIX_HEAD_OFFICE,
    "head_office.address.country": FIX_HEAD_OFFICE,
    "defaults.tax_code": FIX_TAX_CODE,
    "defaults.tax_behavior": FIX_BEHAVIOR,
}


@dataclass(frozen=True)
class TaxSettingsView:
    """What the gateway reports of an account's Stripe Tax settings."""

    status: str  # active | pending
    missing_fields: tuple[str, ...] = ()
    registrations: int = 0
    behavior: str | None = None  # defaults.tax_behavior: exclusive, inclusive, inferred_by_currency


@dataclass(frozen=True)
class TaxReadiness:
    mode: str
    status: str
    ready: bool
    missing_fields: list[str] = field(default_factory=list)
    registrations: int = 0
    fixes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def document(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "status": self.status,
            "ready": self.ready,
            "missing_fields": self.missing_fields,
            "registrations": self.registrations,
            "fixes": self.fixes,
            "warnings": self.warnings,
        }


def tax_readiness(mode: str, settings: TaxSettingsView | None) -> TaxReadiness:
    """Ready when tax is not collected through Stripe, or when the settings are active."""
    if mode != "stripe":
        return TaxReadiness(mode, "active", True)
    if settings is None:
        return TaxReadiness(
            mode,
            "pending",
            False,
            ["stripe_account"],
            0,
            [
                "Link the agency's Stripe account: rebill gateway link --agency "
                "ID --provider stripe --account acct_…"
            ],
        )
    ready = settings.status == "active"
    warnings: list[str] = []
    if settings.registrations == 0:
        warnings.append("no tax registration: tax will calculate as 0.00")
    if ready:
        fixes = [FIX_REGISTRATION] if settings.registrations == 0 else []
    else:
        # Stripe's own checklist: all four steps are required for `active`; the ones its
        # missing fields name come first.
        fixes = []
        for name in settings.missing_fields:
            fix = MISSING_FIELD_FIXES.get(name, f"Set {name}: Stripe Dashboard → Settings → Tax")
            if fix not in fixes:
                fixes.append(fix)
        fixes += [f for f in ALL_FIXES if f not in fixes]
    return TaxReadiness(
        mode,
        settings.status,
        ready,
        list(settings.missing_fields),
        settings.registrations,
        fixes,
        warnings,
    )


@dataclass(frozen=True)
class CheckoutRequest:
    """One client action to pay through the agency's gateway."""

    action: str
    description: str
    amount_minor: int
    currency: str
    automatic_tax: bool
    tax_code: str | None
    metadata: dict[str, str]
    success_url: str
    cancel_url: str
    tax_minor: int = 0  # a manual tax line added to the session
    application_fee_minor: int | None = None  # the platform's fee on the direct charge
    customer_id: str | None = None  # the client's customer on the account
    save_card: bool = False  # keep the card for off-session charges of later invoices


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str | None
    amount_minor: int
    tax_minor: int
    status: str


@dataclass(frozen=True)
class AccountStatus:
    account_id: str
    charges_enabled: bool
    details_submitted: bool


@dataclass(frozen=True)
class SavedCard:
    """A customer with a saved payment method on one Stripe account (None: the platform's)."""

    customer_id: str
    payment_method_id: str
    label: str  # e.g. "visa •••• 4242"


@dataclass(frozen=True)
class ChargeRequest:
    """An off-session charge of a finalized invoice to a saved payment method."""

    customer_id: str
    payment_method_id: str
    amount_minor: int
    currency: str
    description: str
    metadata: dict[str, str]
    application_fee_minor: int | None = None


@dataclass(frozen=True)
class ChargeOutcome:
    """What the gateway answered: `succeeded`, `failed` (declined: the invoice stays open),
    `requires_action` (the client must authenticate on session) or `processing` (a bank debit
    whose end its webhook tells)."""

    status: str
    payment_intent: str | None
    code: str | None = None
    message: str | None = None


BASIS_POINTS = 10_000


def application_fee_minor(amount_minor: int, fee_bps: int) -> int | None:
    """The platform's application fee on a direct charge (per agency, in basis points)."""
    if fee_bps <= 0:
        return None
    return round_div(amount_minor * fee_bps, BASIS_POINTS)


def refund_tax_minor(refund_minor: int, total_minor: int, tax_minor: int) -> int:
    """The part of a refund that is tax: the invoice's tax in proportion, rounded once."""
    if total_minor <= 0:
        return 0
    return round_div(refund_minor * tax_minor, total_minor)


def payment_key(agency_id: str, number: str, attempt: int, nonce: str) -> str:
    """The idempotency key of one payment attempt, stored with it: the SDK's retries of a 500,
    429 or timeout, and any later run that finds the attempt pending, reuse it, so Stripe
    charges at most once per attempt. The nonce keeps keys unique on the Stripe account
    when an invoice number comes back (a database restored or rebuilt)."""
    return f"rebill:{agency_id}:{number}:attempt:{attempt}:{nonce}"


@dataclass(frozen=True)
class PaymentAttempt:
    """One attempt to collect an invoice (or the payment of a receipt): `pending` until the
    gateway answers; a `pending` attempt is retried with its own key, never a new one."""

    number: str
    attempt: int
    idempotency_key: str
    provider: str
    account_id: str | None
    amount_minor: int
    status: str
    payment_intent: str | None = None
    code: str | None = None
    message: str | None = None
    # The card it asks: a retry of the attempt asks the same one, whatever is saved since.
    customer_id: str | None = None
    payment_method_id: str | None = None
    fee_minor: int | None = None  # the platform's application fee asked with it


# Stripe's rule for `inferred_by_currency`: prices in these currencies are tax-exclusive.
EXCLUSIVE_BY_CURRENCY = frozenset({"USD", "CAD"})


def resolve_tax_behavior(behavior: str | None, currency: str) -> str:
    """The behaviour Stripe Tax applies to an account's prices: its default, and for
    `inferred_by_currency`, exclusive in USD and CAD and inclusive in any other currency."""
    if behavior in ("exclusive", "inclusive"):
        return behavior
    return "exclusive" if currency.upper() in EXCLUSIVE_BY_CURRENCY else "inclusive"
