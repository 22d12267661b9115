"""`invoice_pdf` on the in-memory repositories (issue 15): which parties and which pay link
the renderer is given for each kind of document."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from rebill.domain.account import Agency, Brand, Platform, SubAccount
from rebill.domain.plan import WholesaleCard
from rebill.domain.tax import TaxPolicy
from rebill.services.invoicing.documents import invoice_pdf
from rebill.services.ports import StoredInvoice
from tests.fakes import AgencyData, World, fake_uow_factory

PUBLIC_URL = "https://billing.example"


@dataclass
class Recorder:
    calls: list[tuple[StoredInvoice, Brand, str, str | None]] = field(default_factory=list)

    def render(
        self,
        invoice: StoredInvoice,
        issuer: Brand,
        recipient_name: str,
        recipient_email: str,
        factur_x: bool,
        pay_url: str | None = None,
    ) -> bytes:
        self.calls.append((invoice, issuer, recipient_name, pay_url))
        return b"%PDF"


def document(number: str, kind: str, status: str, sub: str | None) -> StoredInvoice:
    return StoredInvoice(
        number, "acme", "ACME", kind, sub, "2026-11", "USD",
        datetime(2026, 12, 1, tzinfo=UTC), status, 100, 0, 100, "Tax", None,
    )  # fmt: skip


def world(domain: str | None) -> World:
    agency = Agency("acme", "Acme", "UTC", "ACME", "USD", TaxPolicy())
    data = AgencyData(agency, WholesaleCard({}, {}, 0))
    data.brand = Brand(
        "Acme Voice",
        address_lines=("1 Main St", "Springfield"),
        country="US",
        tax_id="12-3456789",
        domain=domain,
    )
    data.subs = {"s1": SubAccount("acme", "s1", "One", "one@example.com")}
    for doc in (
        document("ACME-000001", "retail", "open", "s1"),
        document("ACME-000002", "retail", "paid", "s1"),
        document("ACME-R-000001", "receipt", "paid", "s1"),
        document("PLAT-000001", "wholesale", "open", None),
    ):
        data.invoices[doc.number] = doc
    return World(Platform("Platform", "USD", "PLAT"), agencies={"acme": data})


def pay_url_of(
    number: str, domain: str | None = None, public: str | None = PUBLIC_URL
) -> str | None:
    recorder = Recorder()
    invoice_pdf(fake_uow_factory(world(domain)), recorder, number, "acme", public_url=public)
    return recorder.calls[0][3]


def test_only_an_open_retail_invoice_gets_a_pay_link() -> None:
    assert pay_url_of("ACME-000001") == f"{PUBLIC_URL}/portal/acme/invoices"
    assert pay_url_of("ACME-000001", "portal.acme.example") == (
        "https://portal.acme.example/client/invoices"
    )
    assert pay_url_of("ACME-000002") is None  # paid
    assert pay_url_of("ACME-R-000001") is None  # a receipt is paid
    assert pay_url_of("PLAT-000001") is None  # the agency pays the platform from its panel
    assert pay_url_of("ACME-000001", public=None) is None  # no public URL, no link


def test_a_wholesale_invoice_bills_the_agency_at_its_brand_address() -> None:
    recorder = Recorder()
    invoice_pdf(fake_uow_factory(world(None)), recorder, "PLAT-000001", "acme")
    invoice, _, name, _ = recorder.calls[0]
    assert name == "Acme Voice"
    assert invoice.buyer is not None
    assert invoice.buyer.address_lines == ("1 Main St", "Springfield")
    assert (invoice.buyer.country, invoice.buyer.tax_id) == ("US", "12-3456789")
