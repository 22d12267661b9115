"""The two reads the command line answers at once (issue 16): a period's usage summary
(`rebill usage summary`) and the invoice list (`rebill invoices list`), as the same documents
`reports.usage_summary` and `reports.list_invoices` give, read through a narrow port of their
own (`ListingReader`) that `adapters/db/listing.py` implements with SQLAlchemy Core.

Why a port here and not in `services/ports/`: importing any module of that package imports
all of it (every repository's records and protocols) and the unit of work's store behind it,
the ORM; these reads need a handful of plain values. This module imports only the domain.
The documents' rows (`live_usage_row`, `invoice_document`) are built here for both paths, so
the two cannot drift apart; tests/integration/test_listing.py reads the demo database both
ways and compares."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Protocol

from rebill.domain.errors import NotFoundError
from rebill.domain.money import format_minor, minutes_text

if TYPE_CHECKING:
    # The summary's own (imported where it runs): the invoice list needs none of them.
    from zoneinfo import ZoneInfo

    from rebill.domain.charges import HeldNumber
    from rebill.domain.period import Period
    from rebill.domain.usage import PeriodUsage


class LineFacts(Protocol):
    """What a listed invoice line shows (`ports.StoredLine` has it too)."""

    @property
    def code(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def quantity(self) -> str: ...
    @property
    def unit_price(self) -> str | None: ...
    @property
    def amount_minor(self) -> int: ...
    @property
    def tax_minor(self) -> int: ...


class InvoiceFacts(Protocol):
    """What a listed document shows (`ports.StoredInvoice` has it too)."""

    @property
    def number(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def issuer(self) -> str: ...
    @property
    def agency_id(self) -> str: ...
    @property
    def sub_account_id(self) -> str | None: ...
    @property
    def period(self) -> str | None: ...
    @property
    def issued_at(self) -> datetime: ...
    @property
    def status(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def lines(self) -> Sequence[LineFacts]: ...
    @property
    def subtotal_minor(self) -> int: ...
    @property
    def tax_minor(self) -> int: ...
    @property
    def total_minor(self) -> int: ...
    @property
    def usage(self) -> dict[str, Any] | None: ...
    @property
    def credit_of(self) -> str | None: ...


@dataclass(frozen=True)
class ListedLine:
    code: str
    description: str
    quantity: str
    unit_price: str | None
    amount_minor: int
    tax_minor: int


@dataclass(frozen=True)
class ListedInvoice:
    """A finalized document as the list shows it (the stored record less what only a PDF or
    a tax record needs)."""

    number: str
    kind: str
    issuer: str
    agency_id: str
    sub_account_id: str | None
    period: str | None
    issued_at: datetime
    status: str
    currency: str
    lines: tuple[ListedLine, ...]
    subtotal_minor: int
    tax_minor: int
    total_minor: int
    usage: dict[str, Any] | None
    credit_of: str | None


class AgencyListing(Protocol):
    """One agency's rows for these reads, in the reading's transaction."""

    def timezone(self) -> str | None:
        """The agency's time zone; None when the agency does not exist."""
        ...

    def closed(self, period: str) -> bool: ...

    def closed_usage(self, period: str) -> list[tuple[str, dict[str, Any]]]:
        """A closed period's usage summary per sub-account, as the close stored it, by
        sub-account id."""
        ...

    def sub_account_ids(self) -> list[str]:
        """In order."""
        ...

    def counters(self, period: str) -> dict[str, PeriodUsage]:
        """The period's running usage per sub-account that has some."""
        ...

    def numbers(self) -> dict[str, list[HeldNumber]]:
        """Every number each sub-account rents or rented, by rental time then number."""
        ...

    def campaign_counts(self, period: str) -> dict[str, int]: ...

    def invoices(self, period: str | None) -> list[ListedInvoice]:
        """The agency's documents (of `period` when given), by issue time then number."""
        ...


class Listing(Protocol):
    """One read-only transaction."""

    def for_agency(self, agency_id: str) -> AgencyListing: ...

    def platform_invoices(self, period: str | None) -> list[ListedInvoice]:
        """Every agency's documents (of `period` when given), by issue time then number."""
        ...


ListingReader = Callable[[], AbstractContextManager[Listing]]


def _open_agency(reads: Listing, agency_id: str | None) -> tuple[ZoneInfo, AgencyListing]:
    """As `services.accounts.tenant.open_agency`: an empty or unknown id names no agency."""
    from zoneinfo import ZoneInfo

    if agency_id:
        tenant = reads.for_agency(agency_id)
        timezone = tenant.timezone()
        if timezone is not None:
            return ZoneInfo(timezone), tenant
    raise NotFoundError(f"agency {agency_id!r} does not exist")


def live_usage_row(
    sub_account_id: str,
    usage: PeriodUsage,
    numbers: Sequence[HeldNumber],
    campaigns: int,
    end: datetime,
) -> dict[str, Any]:
    """An open period's summary row of one sub-account: its counters so far, the numbers it
    holds at the period's `end` and the campaigns its calls named."""
    from rebill.domain.usage import SECONDS_SCALE

    held = [n for n in numbers if n.rented_at < end and n.held_at(end)]
    credit = Fraction(usage.credit_seconds_e6, SECONDS_SCALE)
    postpaid = Fraction(usage.postpaid_seconds_e6, SECONDS_SCALE)
    return {
        "sub_account": sub_account_id,
        "billable_minutes": minutes_text(usage.billable_seconds),
        "included_minutes_used": minutes_text(usage.included_used_seconds),
        "credit_minutes": minutes_text(credit),
        "postpaid_minutes": minutes_text(postpaid),
        "numbers": len(held),
        "campaigns": campaigns,
    }


def usage_summary(reader: ListingReader, agency_id: str, period: Period) -> dict[str, Any]:
    """`reports.usage_summary`, read through the listing port."""
    from rebill.domain.usage import PeriodUsage

    with reader() as reads:
        timezone, tenant = _open_agency(reads, agency_id)
        label = str(period)
        closed = tenant.closed(label)
        if closed:
            rows = [{"sub_account": sub, **usage} for sub, usage in tenant.closed_usage(label)]
        else:
            end = period.end(timezone)
            counters = tenant.counters(label)
            campaigns = tenant.campaign_counts(label)
            numbers = tenant.numbers()
            rows = [
                live_usage_row(
                    sub_id,
                    counters.get(sub_id, PeriodUsage()),
                    numbers.get(sub_id, []),
                    campaigns.get(sub_id, 0),
                    end,
                )
                for sub_id in tenant.sub_account_ids()
            ]
    return {
        "agency": agency_id,
        "period": label,
        "status": "closed" if closed else "open",
        "sub_accounts": rows,
    }


def line_documents(invoice: InvoiceFacts) -> list[dict[str, Any]]:
    """The invoice's lines, amounts formatted in its currency's minor unit (as
    `services.invoicing.documents.line_documents`, which the close's documents use)."""
    return [
        {
            "code": ln.code,
            "description": ln.description,
            "quantity": ln.quantity,
            "unit_price": ln.unit_price,
            "amount": format_minor(ln.amount_minor, invoice.currency),
            "tax": format_minor(ln.tax_minor, invoice.currency),
        }
        for ln in invoice.lines
    ]


def invoice_document(invoice: InvoiceFacts) -> dict[str, Any]:
    def money(minor: int) -> str:
        return format_minor(minor, invoice.currency)

    document: dict[str, Any] = {
        "number": invoice.number,
        "kind": invoice.kind,
        "issuer": invoice.issuer,
        "agency": invoice.agency_id,
        "sub_account": invoice.sub_account_id,
        "period": invoice.period,
        "issued_at": invoice.issued_at.isoformat(),
        "status": invoice.status,
        "currency": invoice.currency,
        "lines": line_documents(invoice),
        "subtotal": money(invoice.subtotal_minor),
        "tax": money(invoice.tax_minor),
        "total": money(invoice.total_minor),
        "usage": invoice.usage,
    }
    if invoice.credit_of:  # a credit note names the invoice it corrects
        document["credit_of"] = invoice.credit_of
    return document


def list_invoices(
    reader: ListingReader, agency_id: str | None, period: Period | None
) -> list[dict[str, Any]]:
    """`reports.list_invoices`, read through the listing port: one agency's documents, or
    (the platform's view, no agency) every agency's."""
    label = str(period) if period else None
    with reader() as reads:
        if agency_id:
            _, tenant = _open_agency(reads, agency_id)
            invoices = tenant.invoices(label)
        else:
            invoices = reads.platform_invoices(label)
    return [invoice_document(i) for i in invoices]
