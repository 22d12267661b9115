"""Invoice PDFs as the panel and the portal serve them (FastAPI TestClient, no browser): an
open retail invoice links to the client's pay page on the agency's custom domain, built from
REBILL_PUBLIC_URL's scheme and port (issue 15); receipts are titled as receipts."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from rebill.bootstrap import build
from rebill.config import Settings
from rebill.entrypoints.api.app import create_app
from rebill.services.payments.gateway import pay_page_url
from tests.browser.conftest import DOMAIN, NOW
from tests.browser.test_panel_access import sign_in
from tests.conftest import TEST_SCRYPT_N
from tests.integration.test_invoice_pdf import pdf_text

PUBLIC_URL = "https://billing.example:8443"


@pytest.fixture
def client(fresh_db: str) -> Iterator[TestClient]:
    settings = Settings(
        database_url=fresh_db, now=NOW, scrypt_n=TEST_SCRYPT_N, public_url=PUBLIC_URL
    )
    app = build(settings)
    with TestClient(create_app(app)) as test_client:
        yield test_client
    app.dispose()


def test_pay_page_url_uses_the_custom_domain_or_the_portal_path() -> None:
    assert pay_page_url(PUBLIC_URL, "acme", DOMAIN) == f"https://{DOMAIN}:8443/client/invoices"
    assert pay_page_url(PUBLIC_URL, "acme", None) == f"{PUBLIC_URL}/portal/acme/invoices"


def test_an_open_client_invoice_links_to_its_pay_page(client: TestClient) -> None:
    assert sign_in(client, "admin@acme.example") == 303
    page = client.get("/panel/invoices").text
    numbers = sorted(set(re.findall(r"ACME-\d{6}", page)))
    texts = {}
    for number in numbers:
        response = client.get(f"/panel/invoices/{number}.pdf")
        assert response.status_code == 200, (number, response.text[:300])
        texts[number] = pdf_text(response.content)
    opened = [n for n, text in texts.items() if "Amount due (DUE)" in text]
    paid = [n for n, text in texts.items() if "PAID - thank you" in text]
    assert opened, texts.keys()
    link = f"Pay online: https://{DOMAIN}:8443/client/invoices"
    for number in opened:
        assert link in texts[number], number
        assert "Due date On receipt" in texts[number]
    for number in paid:
        assert "Pay online" not in texts[number], number


def test_the_portal_serves_the_same_pay_link(client: TestClient) -> None:
    assert sign_in(client, "owner@bright-dental.example", "/portal/acme/sign-in") == 303
    page = client.get("/portal/acme/invoices").text
    numbers = sorted(set(re.findall(r"ACME-\d{6}", page)))
    link = f"Pay online: https://{DOMAIN}:8443/client/invoices"
    opened = 0
    for number in numbers:
        response = client.get(f"/portal/acme/invoices/{number}.pdf")
        assert response.status_code == 200, number
        text = pdf_text(response.content)
        is_open = "Amount due (DUE)" in text
        opened += is_open
        assert (link in text) == is_open, number
    assert opened, numbers
