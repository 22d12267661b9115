"""The panel's brand page (issue 10, item 3): a logo arrives as an uploaded file (multipart),
checked like any logo; a server path can never be named; only roles that may change settings
save; the custom domain is asked for here, never set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from rebill.bootstrap import App, build
from rebill.config import Settings
from rebill.entrypoints.api.app import create_app
from tests.browser.conftest import AGENCY, NOW, csrf_of, png
from tests.browser.test_panel_access import sign_in
from tests.conftest import TEST_SCRYPT_N


@pytest.fixture
def rebill(fresh_db: str) -> Iterator[App]:
    app = build(Settings(database_url=fresh_db, now=NOW, scrypt_n=TEST_SCRYPT_N))
    yield app
    app.dispose()


@pytest.fixture
def client(rebill: App) -> Iterator[TestClient]:
    with TestClient(create_app(rebill)) as test_client:
        yield test_client


def brand_form(client: TestClient) -> dict[str, str]:
    token = csrf_of(client.get("/panel/brand").text)
    return {
        "csrf_token": token,
        "display_name": "Acme Voice Deluxe",
        "colour": "#112233",
        "support_email": "help@acme.example",
        "address": "1 Main St\nSpringfield",
        "country": "US",
        "tax_id": "",
    }


def test_an_uploaded_logo_is_saved_and_served(client: TestClient, rebill: App) -> None:
    assert sign_in(client, "admin@acme.example") == 303
    logo = png((10, 200, 30))
    saved = client.post(
        "/panel/brand",
        data=brand_form(client),
        files={"logo": ("logo.png", logo, "image/png")},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    with rebill.uow() as uow:
        brand = uow.for_agency(AGENCY).brand.get()
        audit = uow.for_agency(AGENCY).audit.latest(20)
    assert brand.display_name == "Acme Voice Deluxe" and brand.logo_png == logo
    assert brand.address_lines == ("1 Main St", "Springfield")
    assert client.get(f"/portal/{AGENCY}/logo.png").content == logo
    assert any(e.field == "brand.display_name" for e in audit)


def test_a_logo_that_is_not_an_image_is_refused_and_nothing_changes(
    client: TestClient, rebill: App
) -> None:
    assert sign_in(client, "admin@acme.example") == 303
    with rebill.uow() as uow:
        before = uow.for_agency(AGENCY).brand.get()
    refused = client.post(
        "/panel/brand",
        data=brand_form(client),
        files={"logo": ("shadow.png", b"root:x:0:0:root:/root:/bin/bash\n", "image/png")},
    )
    assert refused.status_code == 422
    assert "PNG or JPEG" in refused.text
    assert 'value="Acme Voice Deluxe"' in refused.text, "what was typed is kept"
    with rebill.uow() as uow:
        assert uow.for_agency(AGENCY).brand.get() == before


def test_a_role_that_may_not_change_settings_cannot_save_the_brand(
    client: TestClient, rebill: App
) -> None:
    assert sign_in(client, "billing@acme.example") == 303
    with rebill.uow() as uow:
        before = uow.for_agency(AGENCY).brand.get()
    refused = client.post("/panel/brand", data=brand_form(client))
    assert refused.status_code == 403
    with rebill.uow() as uow:
        assert uow.for_agency(AGENCY).brand.get() == before


def test_a_domain_is_asked_for_not_set(client: TestClient, rebill: App) -> None:
    assert sign_in(client, "admin@acme.example") == 303
    token = csrf_of(client.get("/panel/brand").text)
    asked = client.post(
        "/panel/brand/domain", data={"csrf_token": token, "domain": "portal.acme-new.com"}
    )
    assert asked.status_code == 200
    assert "_rebill-challenge.portal.acme-new.com" in asked.text and "pending" in asked.text
    with rebill.uow() as uow:
        assert uow.platform.domains.owner("portal.acme-new.com") is None


def test_a_role_that_may_not_change_settings_cannot_ask_for_a_domain(
    client: TestClient, rebill: App
) -> None:
    assert sign_in(client, "billing@acme.example") == 303
    with rebill.uow() as uow:
        before = uow.for_agency(AGENCY).domains.all()
    token = csrf_of(client.get("/panel/brand").text)
    for path in ("/panel/brand/domain", "/panel/brand/domain/verify"):
        refused = client.post(path, data={"csrf_token": token, "domain": "portal.acme-new.com"})
        assert refused.status_code == 403
    with rebill.uow() as uow:
        assert uow.for_agency(AGENCY).domains.all() == before
