"""Invitations from the panel's forms over HTTP (FastAPI TestClient, the seeded demo world,
e-mail over SMTP to a local aiosmtpd server): "Add client" invites the client's contact (the
link on the agency's custom domain, where its portal lives), a refused invitation adds no
client and keeps what was typed; the console's "Add agency" invites the agency's owner as
its admin, in the new agency's name."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from rebill.bootstrap import App, build
from rebill.config import Settings
from tests.browser.conftest import BRAND_NAME, DOMAIN, NOW, PASSWORD, csrf_of
from tests.conftest import TEST_SCRYPT_N
from tests.integration.test_alerts import Inbox, free_port

PUBLIC_URL = "http://127.0.0.1:8000"
LINK = re.compile(r"(https?://\S+/invitations/[A-Za-z0-9_-]+)")
NEW_CLIENT = {
    "name": "Riverbend Clinic",
    "id": "",
    "email": "billing@riverbend.example",
    "country": "US",
    "plan": "starter",
    "monthly_spend": "",
    "alerts": "",
}


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    box = Inbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def app(fresh_db: str, inbox: tuple[Inbox, int]) -> Iterator[App]:
    settings = Settings(
        database_url=fresh_db,
        now=NOW,
        scrypt_n=TEST_SCRYPT_N,
        public_url=PUBLIC_URL,
        smtp_host="127.0.0.1",
        smtp_port=inbox[1],
    )
    built = build(settings)
    yield built
    built.dispose()


def sign_in(client: TestClient, email: str) -> None:
    client.cookies.clear()
    token = csrf_of(client.get("/sign-in").text)
    answer = client.post(
        "/sign-in",
        data={"email": email, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303


def body_of(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def link_in(message: Message) -> str:
    found = LINK.search(body_of(message))
    assert found, "no link in the invitation"
    return found.group(1)


def clients_of(app: App) -> set[str]:
    with app.uow() as uow:
        return set(uow.for_agency("acme").sub_accounts.ids())


def set_password(client: TestClient, link: str, host: str | None = None) -> Any:
    headers = {"host": host} if host else {}
    path = urlsplit(link).path
    client.cookies.clear()
    page = client.get(path, headers=headers)
    assert page.status_code == 200, page.text
    return client.post(
        path,
        headers=headers,
        data={
            "password": "riverbend front desk",
            "password_again": "riverbend front desk",
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )


def test_adding_a_client_invites_its_contact_to_the_portal(
    app: App, client: TestClient, inbox: tuple[Inbox, int]
) -> None:
    box, _ = inbox
    sign_in(client, "admin@acme.example")
    form = client.get("/panel/sub-accounts/new").text
    assert 'id="invite_email"' in form and "works once, for 7 days" in form
    data = {
        **NEW_CLIENT,
        "invite_email": "FrontDesk@Riverbend.example",
        "csrf_token": csrf_of(form),
    }
    added = client.post("/panel/sub-accounts/new", data=data, follow_redirects=False)
    assert added.status_code == 303
    assert added.headers["location"] == "/panel/sub-accounts/riverbend-clinic?saved=client_invited"
    [(recipients, message)] = box.messages
    assert recipients == ["frontdesk@riverbend.example"]
    assert BRAND_NAME in str(message["Subject"])
    link = link_in(message)
    assert link.startswith(f"http://{DOMAIN}:8000/client/invitations/")  # the agency's domain
    used = set_password(client, link, DOMAIN)
    assert used.status_code == 303 and used.headers["location"] == "/client/"
    home = client.get("/client/", headers={"host": DOMAIN})
    assert home.status_code == 200 and "Riverbend Clinic" in home.text
    again = client.get(urlsplit(link).path, headers={"host": DOMAIN})
    assert again.status_code == 410 and "has been used" in again.text


def test_a_refused_invitation_adds_no_client_and_keeps_what_was_typed(
    app: App, client: TestClient, inbox: tuple[Inbox, int]
) -> None:
    box, _ = inbox
    sign_in(client, "admin@acme.example")
    token = csrf_of(client.get("/panel/sub-accounts/new").text)
    before = clients_of(app)
    data = {**NEW_CLIENT, "invite_email": "front desk at riverbend", "csrf_token": token}
    refused = client.post("/panel/sub-accounts/new", data=data)
    assert refused.status_code == 422
    shown = html.unescape(refused.text)
    assert re.search(r'id="invite_email-error">\'front desk at riverbend\' is not an e-mail', shown)
    assert 'value="front desk at riverbend"' in shown and 'value="Riverbend Clinic"' in shown
    assert clients_of(app) == before and box.messages == []
    # Without an address to invite, the client is added alone.
    plain = {**NEW_CLIENT, "invite_email": "", "csrf_token": token}
    added = client.post("/panel/sub-accounts/new", data=plain, follow_redirects=False)
    assert added.headers["location"].endswith("saved=client")
    assert "riverbend-clinic" in clients_of(app) and box.messages == []


def test_a_billing_user_cannot_add_a_client_or_invite(
    app: App, client: TestClient, inbox: tuple[Inbox, int]
) -> None:
    sign_in(client, "billing@acme.example")
    token = csrf_of(client.get("/panel/sub-accounts/new").text)
    before = clients_of(app)
    data = {**NEW_CLIENT, "invite_email": "x@riverbend.example", "csrf_token": token}
    assert client.post("/panel/sub-accounts/new", data=data).status_code == 403
    assert clients_of(app) == before and inbox[0].messages == []


def test_adding_an_agency_invites_its_owner_as_admin(
    app: App, client: TestClient, inbox: tuple[Inbox, int]
) -> None:
    box, _ = inbox
    sign_in(client, "ops@platform.example")
    form = client.get("/console/agencies/new").text
    assert 'id="owner_email"' in form
    data = {
        "id": "northwind",
        "name": "Northwind Calls",
        "timezone": "UTC",
        "invoice_prefix": "NW",
        "credit_limit": "",
        "owner_email": "owner@northwind.example",
        "csrf_token": csrf_of(form),
    }
    added = client.post("/console/agencies/new", data=data, follow_redirects=False)
    assert added.headers["location"] == "/console/agencies/northwind?saved=owner_invited"
    page = client.get("/console/agencies/northwind?saved=owner_invited").text
    assert "owner@northwind.example" in page and 'data-state="pending"' in page
    [(_, message)] = box.messages
    assert "Northwind Calls" in str(message["Subject"])
    assert "as admin" in body_of(message)
    link = link_in(message)
    assert link.startswith(f"{PUBLIC_URL}/invitations/")
    used = set_password(client, link)
    assert used.status_code == 303 and used.headers["location"] == "/panel"
    panel = client.get("/panel")
    assert panel.status_code == 200 and "owner@northwind.example · admin" in panel.text
    assert "Northwind Calls" in panel.text


def test_a_bad_owner_address_adds_no_agency(
    app: App, client: TestClient, inbox: tuple[Inbox, int]
) -> None:
    sign_in(client, "ops@platform.example")
    token = csrf_of(client.get("/console/agencies/new").text)
    data = {
        "id": "northwind",
        "name": "Northwind Calls",
        "timezone": "UTC",
        "invoice_prefix": "NW",
        "owner_email": "owner at northwind",
        "csrf_token": token,
    }
    refused = client.post("/console/agencies/new", data=data)
    assert refused.status_code == 422 and "is not an e-mail address" in refused.text
    assert 'value="owner at northwind"' in refused.text
    with app.uow() as uow:
        assert uow.for_agency("northwind").agency.get() is None
    assert inbox[0].messages == []
