"""Sign-in, CSRF and tenant isolation of the panel, console and portal (FastAPI TestClient,
no browser): wrong passwords and CSRF-less POSTs are refused, and guessing another client's or
another agency's URLs answers 404."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from rebill.bootstrap import build
from rebill.config import Settings
from rebill.entrypoints.api.app import create_app
from tests.browser.conftest import BRAND_NAME, DOMAIN, NOW, PASSWORD, PLATFORM_NAME, csrf_of
from tests.conftest import TEST_SCRYPT_N


@pytest.fixture
def client(fresh_db: str) -> Iterator[TestClient]:
    app = build(Settings(database_url=fresh_db, now=NOW, scrypt_n=TEST_SCRYPT_N))
    with TestClient(create_app(app)) as test_client:
        yield test_client
    app.dispose()


def sign_in(
    client: TestClient, email: str, path: str = "/sign-in", password: str = PASSWORD
) -> int:
    token = csrf_of(client.get(path).text)
    response = client.post(
        path,
        data={"email": email, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    return response.status_code


def test_wrong_password_is_refused(client: TestClient) -> None:
    assert sign_in(client, "admin@acme.example", password="not the password") == 401
    assert client.get("/panel", follow_redirects=False).status_code == 303  # to sign-in
    assert sign_in(client, "nobody@acme.example") == 401
    assert sign_in(client, "admin@acme.example") == 303
    assert client.get("/panel").status_code == 200


def test_a_client_cannot_sign_in_to_another_agencys_portal(client: TestClient) -> None:
    assert sign_in(client, "owner@orbit.example", "/portal/acme/sign-in") == 401
    assert sign_in(client, "owner@orbit.example", "/portal/zenith/sign-in") == 303


def test_session_cookie_is_httponly_and_samesite(client: TestClient) -> None:
    token = csrf_of(client.get("/sign-in").text)
    response = client.post(
        "/sign-in",
        data={"email": "admin@acme.example", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    cookie = response.headers["set-cookie"].lower()
    assert "rebill_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie


def test_posts_without_the_csrf_token_are_refused(client: TestClient) -> None:
    assert (
        client.post(
            "/sign-in", data={"email": "admin@acme.example", "password": PASSWORD}
        ).status_code
        == 403
    )
    assert sign_in(client, "admin@acme.example") == 303
    form = {
        "name": "Starter",
        "monthly_fee": "1.00",
        "included_minutes": "1",
        "rate_outbound": "0.50",
        "rate_inbound": "0.50",
        "number_local": "3.00",
        "number_toll_free": "5.00",
    }
    assert client.post("/panel/plans/starter", data=form).status_code == 403
    assert client.post("/panel/plans/starter", data={**form, "csrf_token": "x"}).status_code == 403
    assert "49.00" in client.get("/panel/plans").text  # unchanged
    caps = {"monthly_spend": "1.00", "enforcement": "block"}
    assert client.post("/panel/sub-accounts/bright-dental/caps", data=caps).status_code == 403


def test_a_price_below_wholesale_needs_the_confirmation(client: TestClient) -> None:
    assert sign_in(client, "admin@acme.example") == 303
    token = csrf_of(client.get("/panel/plans/starter").text)
    form = {
        "csrf_token": token,
        "name": "Starter",
        "monthly_fee": "49.00",
        "included_minutes": "200",
        "rate_outbound": "0.05",  # wholesale is 0.09
        "rate_inbound": "0.20",
        "number_local": "3.00",
        "number_toll_free": "5.00",
    }
    refused = client.post("/panel/plans/starter", data=form)
    assert refused.status_code == 422 and "below the wholesale" in refused.text
    confirmed = client.post(
        "/panel/plans/starter",
        data={**form, "confirm_below_wholesale": "yes"},
        follow_redirects=False,
    )
    assert confirmed.status_code == 303
    audit = client.get("/panel/audit").text
    assert "voice.outbound" in audit and "0.05" in audit and "admin@acme.example" in audit


@pytest.mark.parametrize(
    "path",
    [
        "/portal/acme/invoices/ACME-000003.pdf",  # another client's invoice (harbor-realty)
        "/portal/acme/invoices/ZEN-000001.pdf",  # another agency's invoice
        "/portal/zenith/",  # another agency's portal
        "/portal/zenith/invoices",
        "/panel",  # the agency's panel
        "/panel/sub-accounts/harbor-realty",
        "/console",
    ],
)
def test_a_client_cannot_reach_other_pages(client: TestClient, path: str) -> None:
    assert sign_in(client, "owner@bright-dental.example", "/portal/acme/sign-in") == 303
    assert client.get("/portal/acme/").status_code == 200
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 404, path


def test_a_client_sees_only_its_own_invoices(client: TestClient) -> None:
    assert sign_in(client, "owner@bright-dental.example", "/portal/acme/sign-in") == 303
    page = client.get("/portal/acme/invoices").text
    numbers = {n for n in page.split() if n.startswith("ACME-0")}
    assert numbers, page
    own = client.get("/portal/acme/invoices/ACME-000002.pdf")
    assert own.status_code == 200 and own.content.startswith(b"%PDF")
    harbor = client.get("/portal/acme/invoices/ACME-000003.pdf")
    assert harbor.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/panel/sub-accounts/orbit",  # zenith's sub-account
        "/panel/invoices/ZEN-000001.pdf",
        "/panel/plans/basic",  # zenith's plan
        "/portal/zenith/",
        "/console",
    ],
)
def test_an_agency_cannot_reach_another_agencys_pages(client: TestClient, path: str) -> None:
    assert sign_in(client, "admin@acme.example") == 303
    assert client.get(path, follow_redirects=False).status_code == 404, path


def test_zenith_sees_its_own_and_not_acmes(client: TestClient) -> None:
    assert sign_in(client, "admin@zenith.example") == 303
    assert client.get("/panel/sub-accounts/orbit").status_code == 200
    assert client.get("/panel/sub-accounts/bright-dental").status_code == 404
    assert client.get("/panel/invoices/ACME-000002.pdf").status_code == 404
    assert "bright-dental" not in client.get("/panel/sub-accounts").text


def test_the_portal_on_the_agencys_domain_carries_only_its_brand(client: TestClient) -> None:
    headers = {"host": DOMAIN}
    page = client.get("/client/sign-in", headers=headers)
    assert page.status_code == 200
    assert BRAND_NAME in page.text and PLATFORM_NAME not in page.text
    assert "rebill" not in page.text.lower()
    # Another agency's portal by path on this domain: not found.
    assert client.get("/portal/zenith/sign-in", headers=headers).status_code == 404
    # On a host that is no agency's domain, /client does not exist.
    assert client.get("/client/sign-in").status_code == 404
