"""Documents and ledger entries shared by the use cases: numbering and finalizing an invoice
with its journal entry, receipts of immediate charges, and credit purchases."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime

from rebill.domain.account import Agency
from rebill.domain.charges import Charge
from rebill.domain.errors import ConflictError, FieldError, NotFoundError, ValidationError
from rebill.domain.invoice import InvoiceDraft
from rebill.domain.ledger import Accounts, JournalEntry
from rebill.domain.money import MICROS_PER_UNIT, format_minor, micros_per_minor, to_micros
from rebill.domain.tax import TaxPolicy
from rebill.domain.tax_decision import BuyerTaxIdentity, Seller, buyer_tax_policy
from rebill.services.accounts.tenant import require_sub_account
from rebill.services.ports import AgencyView, NumberedDraft, StoredInvoice, StoredLine

MANUAL = "manual"
credit_purchase_units_max = 1_000_000
# An invoice's idempotency key is stored in 200 characters (`invoices.idempotency_key`).
idempotency_key_length_max = 200
USAGE_CODES = ("voice.",)


def invoice_entry(draft: InvoiceDraft, number: str, debit_account: str) -> JournalEntry:
    """The journal entry of a finalized invoice. Retail and receipts: debit `debit_account`
    the total; credit revenue per line (net of tax) and the tax payable. Wholesale: the
    agency's cost and payable, and the platform's receivable and revenue (the platform's
    accounts facing an agency live under that agency)."""
    unit = micros_per_minor(draft.currency)
    _, tax_minor, total_minor = draft.totals_minor()
    total = total_minor * unit
    if draft.kind == "wholesale":
        lines = [
            (Accounts.WHOLESALE_COST, total),
            (Accounts.WHOLESALE_PAYABLE, -total),
            (Accounts.PLATFORM_RECEIVABLE, total),
            (Accounts.PLATFORM_REVENUE, -total),
        ]
    else:
        lines = [(debit_account, total)]
        inclusive = draft.tax.inclusive
        for line in draft.lines:
            net = line.amount_minor - (line.tax_minor if inclusive else 0)
            account = (
                Accounts.REVENUE_USAGE
                if line.code.startswith(USAGE_CODES)
                else Accounts.REVENUE_RECURRING
            )
            if line.code == "credits.purchase":
                account = Accounts.wallet(draft.sub_account_id or "")
            lines.append((account, -net * unit))
        lines.append((Accounts.TAX_PAYABLE, -tax_minor * unit))
    return JournalEntry.of(
        draft.agency_id,
        f"invoice:{number}",
        f"{draft.kind} {number}",
        draft.issued_at,
        draft.currency,
        lines,
    )


def finalize(
    tenant: AgencyView,
    draft: InvoiceDraft,
    status: str,
    debit_account: str,
    entry: Callable[[InvoiceDraft, str, str], JournalEntry] = invoice_entry,
) -> str:
    """Give the draft the next number of its issuer's series, store it immutable, and post
    its journal entry (`invoice_entry` unless the document has its own, like a credit note)."""
    existing = tenant.invoices.number_for_key(draft.idempotency_key)
    if existing:
        return existing
    (number,) = tenant.invoices.reserve_numbers(draft.issuer, draft.kind, 1)
    tenant.invoices.save([NumberedDraft(draft, number, status)])
    tenant.ledger.post_many([entry(draft, number, debit_account)])
    return number


def stored_draft(numbered: NumberedDraft) -> StoredInvoice:
    """A saved draft as `invoices.find` reads it back, without reading it back."""
    d = numbered.draft
    return StoredInvoice(
        number=numbered.number,
        agency_id=d.agency_id,
        issuer=d.issuer,
        kind=d.kind,
        sub_account_id=d.sub_account_id,
        period=d.period,
        currency=d.currency,
        issued_at=d.issued_at,
        status=numbered.status,
        subtotal_minor=d.subtotal_minor,
        tax_minor=d.tax_minor,
        total_minor=d.total_minor,
        tax_label=d.tax.label,
        usage=dict(d.usage) if d.usage is not None else None,
        lines=[
            StoredLine(
                ln.code, ln.description, ln.quantity, ln.unit_price, ln.amount_minor, ln.tax_minor
            )
            for ln in d.lines
        ],
        tax_behavior=d.tax.behavior,
        credit_of=d.credit_of,
        tax_treatment=d.tax.treatment,
        buyer=None if d.buyer is None or d.buyer == BuyerTaxIdentity() else d.buyer,
    )


def buyer_terms(
    tenant: AgencyView, agency: Agency, sub_account_id: str
) -> tuple[TaxPolicy, BuyerTaxIdentity]:
    """The agency's tax as decided for this client (docs/tax.md) and the client's identity."""
    sub = tenant.sub_accounts.get(sub_account_id)
    buyer = sub.tax_identity if sub else BuyerTaxIdentity()
    if agency.tax.mode != "manual":
        return agency.tax, buyer
    brand = tenant.brand.get()
    return buyer_tax_policy(agency.tax, Seller(brand.country, brand.tax_id), buyer), buyer


def issue_receipt(
    tenant: AgencyView,
    agency: Agency,
    sub_account_id: str,
    charge: Charge,
    now: datetime,
    tax_minor: int | None = None,
    provider: str = MANUAL,
    tax: TaxPolicy | None = None,
) -> str | None:
    """A paid receipt for one immediate charge, once (its key is the idempotency key)."""
    key = f"receipt:{sub_account_id}:{charge.key}"
    if tenant.invoices.number_for_key(key):
        return None
    policy, buyer = buyer_terms(tenant, agency, sub_account_id)
    draft = InvoiceDraft(
        kind="receipt",
        issuer=agency.invoice_prefix,
        agency_id=agency.id,
        sub_account_id=sub_account_id,
        period=None,
        currency=agency.currency,
        issued_at=charge.at,
        tax=tax or policy,
        idempotency_key=key,
        buyer=buyer,
    )
    draft.add_line(charge.code, charge.description, "1", None, charge.amount_micros, tax_minor)
    if not draft.lines:
        return None
    return finalize(tenant, draft, "paid", Accounts.gateway_clearing(provider))


def sell_credits(
    tenant: AgencyView,
    agency: Agency,
    sub_account_id: str,
    amount_text: str,
    now: datetime,
    reference: str | None = None,
    tax_minor: int | None = None,
    provider: str = MANUAL,
    tax: TaxPolicy | None = None,
) -> tuple[str, int]:
    """Record a credit purchase paid outside the gateway: a receipt (a taxable sale) and the
    net amount into the wallet. Returns the receipt number and the new balance in micros."""
    require_sub_account(tenant, sub_account_id)
    try:
        micros = to_micros(amount_text)
    except (TypeError, ValueError) as exc:
        raise ValidationError([FieldError("--amount", str(exc), "amount")]) from None
    unit = micros_per_minor(agency.currency)
    if micros <= 0 or micros % unit:
        raise ValidationError(
            [
                FieldError(
                    "--amount",
                    f"must be a positive amount with at most "
                    f"the currency's minor digits ({agency.currency})",
                    "amount",
                )
            ]
        )
    if micros > credit_purchase_units_max * MICROS_PER_UNIT:
        raise ValidationError(
            [FieldError("--amount", f"at most {credit_purchase_units_max} per purchase", "amount")]
        )
    # A payment reference is recorded once; without one every purchase is its own.
    key = f"credits:{sub_account_id}:{reference or uuid.uuid4().hex}"
    if len(key) > idempotency_key_length_max:  # a long reference, by its digest (200 fit)
        digest = hashlib.sha256(str(reference).encode()).hexdigest()
        key = f"credits:{sub_account_id}:sha256:{digest}"
    policy, buyer = buyer_terms(tenant, agency, sub_account_id)
    draft = InvoiceDraft(
        kind="receipt",
        issuer=agency.invoice_prefix,
        agency_id=agency.id,
        sub_account_id=sub_account_id,
        period=None,
        currency=agency.currency,
        issued_at=now,
        tax=tax or policy,
        idempotency_key=key,
        buyer=buyer,
    )
    draft.add_line(
        "credits.purchase",
        f"Credits {format_minor(micros // unit, agency.currency)}",
        "1",
        format_minor(micros // unit, agency.currency),
        micros,
        tax_minor,
    )
    existing = tenant.invoices.number_for_key(key)
    if existing:  # the same payment reference is recorded once
        return existing, wallet_balance_micros(tenant, sub_account_id)
    number = finalize(tenant, draft, "paid", Accounts.gateway_clearing(provider))
    line = draft.lines[0]
    net_minor = line.amount_minor - (line.tax_minor if draft.tax.inclusive else 0)
    return number, tenant.wallets.add(sub_account_id, net_minor * unit)


def wallet_balance_micros(tenant: AgencyView, sub_account_id: str) -> int:
    """The cached balance (checked against the ledger's postings by the tests)."""
    return tenant.wallets.balances([sub_account_id]).get(sub_account_id, 0)


def mark_paid(tenant: AgencyView, number: str, reference: str, now: datetime) -> str:
    """The manual gateway: an agency user records that an open invoice was paid (bank
    transfer, cash) with a reference. The ledger moves the total from the receivable (or the
    agency's wholesale payable) to the manual clearing account, once. Returns the status the
    invoice had."""
    if not reference.strip():
        raise ValidationError(
            [
                FieldError(
                    "--reference",
                    "say how it was paid (a bank reference, a receipt number)",
                    "reference",
                )
            ]
        )
    tenant.invoices.lock(number)
    invoice = stored_invoice(tenant, number)
    if invoice.status == "paid":
        return "paid"
    if invoice.kind in ("receipt", "credit_note"):
        raise ConflictError(
            f"{number} is a {invoice.kind.replace('_', ' ')}; only open invoices are paid "
            "(receipts are paid when issued)"
        )
    if invoice.status != "open":
        raise ConflictError(f"{number} is {invoice.status}: only an open invoice is paid")
    tenant.ledger.post(payment_entry(invoice, MANUAL, reference, now))
    tenant.invoices.mark(number, "paid")
    return "open"


def stored_invoice(tenant: AgencyView, number: str) -> StoredInvoice:
    found = tenant.invoices.find(number=number)
    if not found:
        raise NotFoundError(f"invoice {number!r} does not exist in agency {tenant.agency_id!r}")
    return found[0]


def payment_entry(
    invoice: StoredInvoice, provider: str, reference: str, now: datetime
) -> JournalEntry:
    """An invoice paid through `provider`: the total moves from the sub-account's receivable
    to the gateway's clearing account; a wholesale invoice moves from the agency's payable
    (paid out of its clearing account) to the platform's clearing account."""
    micros = invoice.total_minor * micros_per_minor(invoice.currency)
    if invoice.kind == "wholesale":
        method = provider.removeprefix("platform:")
        lines = [
            (Accounts.WHOLESALE_PAYABLE, micros),
            (Accounts.gateway_clearing(method), -micros),
            (Accounts.gateway_clearing(f"platform:{method}"), micros),
            (Accounts.PLATFORM_RECEIVABLE, -micros),
        ]
    else:
        lines = [
            (Accounts.gateway_clearing(provider), micros),
            (Accounts.receivable(invoice.sub_account_id or ""), -micros),
        ]
    return JournalEntry.of(
        invoice.agency_id,
        f"payment:{invoice.number}",
        f"paid: {reference}"[:300],
        now,
        invoice.currency,
        lines,
    )
