"""Invitations in a real browser: Playwright driving Debian's Chromium (/usr/bin/chromium)
against the app served by uvicorn in a thread, e-mail over SMTP to a local aiosmtpd server.
An agency owner invites a staff member from Users and a client's contact from Add client;
each opens the link from the e-mail they got (the client's on the agency's own domain), sets
a password and lands signed in; the link used a second time is refused. Screenshots go to
test-artifacts/screenshots/."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from aiosmtpd.controller import Controller

from rebill.bootstrap import App, build
from rebill.config import Settings
from rebill.entrypoints.api.app import create_app
from tests.browser.conftest import BRAND_NAME, DOMAIN, NOW, PASSWORD, World, copy_of, free_port
from tests.conftest import TEST_SCRYPT_N
from tests.integration.test_alerts import Inbox

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "browser tests need Debian's Chromium at /usr/bin/chromium (apt-get install chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LINK = re.compile(r"(https?://\S+/invitations/[A-Za-z0-9_-]+)")
STAFF = "dana@acme.example"
CONTACT = "frontdesk@riverbend.example"


@dataclass
class Served:
    url: str
    app: App
    inbox: Inbox

    def link_to(self, email: str) -> str:
        """The link in the newest e-mail to `email`, waiting a little for it to arrive."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for recipients, message in reversed(self.inbox.messages):
                if recipients == [email]:
                    return _link(message)
            time.sleep(0.05)
        raise AssertionError(f"no e-mail to {email}")


def _link(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    found = LINK.search(payload.decode())
    assert found, "an invitation without its link"
    return found.group(1)


@pytest.fixture(scope="module")
def served(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    inbox = Inbox()
    smtp_port, port = free_port(), free_port()
    mail = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    mail.start()
    url = f"http://127.0.0.1:{port}"
    settings = Settings(
        database_url=copy_of(world, tmp_path_factory.mktemp("invitations") / "rebill.db"),
        now=NOW,
        public_url=url,
        scrypt_n=TEST_SCRYPT_N,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
    )
    app = build(settings)
    server = uvicorn.Server(
        uvicorn.Config(create_app(app), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield Served(url, app, inbox)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        mail.stop()
        app.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {DOMAIN} 127.0.0.1"],
        )
        yield launched
        launched.close()


def new_page(browser: Any) -> Any:
    """A page in a context of its own (its own cookies: another person's browser)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    return opened


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def set_password(page: Any, password: str) -> None:
    page.get_by_label("New password").fill(password)
    page.get_by_label("The same password again").fill(password)
    page.get_by_role("button", name="Set password and sign in").click()


def test_an_owner_invites_staff_and_a_client_who_set_their_own_passwords(
    served: Served, browser: Any
) -> None:
    expect = sync_api.expect
    owner = new_page(browser)
    owner.goto(f"{served.url}/sign-in")
    owner.get_by_label("E-mail").fill("admin@acme.example")
    owner.get_by_label("Password").fill(PASSWORD)
    owner.get_by_role("button", name="Sign in").click()
    expect(owner).to_have_url(re.compile(r"/panel$"))

    # Staff, from Users: the role offered first is the least privileged.
    owner.get_by_role("link", name="Users").click()
    role = owner.get_by_label("Role", exact=True)
    expect(role).to_have_value("viewer")
    owner.get_by_label("E-mail", exact=True).fill("dana at acme")
    owner.get_by_role("button", name="Send invitation").click()
    expect(owner.locator("#email-error")).to_contain_text("is not an e-mail address")
    expect(owner.get_by_label("E-mail", exact=True)).to_have_value("dana at acme")
    owner.get_by_label("E-mail", exact=True).fill(STAFF)
    owner.get_by_label("Role", exact=True).select_option("billing")
    owner.get_by_role("button", name="Send invitation").click()
    expect(owner.locator("main p.notice.ok")).to_contain_text("Invitation sent")
    row = owner.locator("#invitations tbody tr", has_text=STAFF)
    expect(row).to_have_attribute("data-state", "pending")
    expect(row).to_contain_text("billing")
    shot(owner, "panel-users-invitations")

    # A client, from Add client, with its contact invited to the portal.
    owner.get_by_role("link", name="Sub-accounts").click()
    owner.get_by_role("link", name="Add client").click()
    owner.get_by_label("Client name").fill("Riverbend Clinic")
    owner.get_by_label("Billing e-mail").fill("billing@riverbend.example")
    owner.get_by_label("Invite to the portal (e-mail)").fill(CONTACT)
    owner.get_by_role("button", name="Add client").click()
    expect(owner.locator("main p.notice.ok")).to_contain_text("its contact invited")
    expect(owner.get_by_role("heading", level=1)).to_contain_text("Riverbend Clinic")

    # The staff member opens the e-mailed link in their own browser.
    staff_link = served.link_to(STAFF)
    assert staff_link.startswith(f"{served.url}/invitations/")
    staff = new_page(browser)
    staff.goto(staff_link)
    expect(staff.get_by_role("heading", level=1)).to_have_text(f"Welcome to {BRAND_NAME}")
    expect(staff.locator("#invited-email")).to_have_text(STAFF)
    shot(staff, "invitation-set-password")
    stale = new_page(browser)  # the same link kept open in another tab, to be used later
    stale.goto(staff_link)
    set_password(staff, "dana's own passphrase")
    expect(staff).to_have_url(re.compile(r"/panel$"))
    expect(staff.locator("header .who")).to_have_text(f"{STAFF} · billing")

    # The client's contact: the link is on the agency's own domain, its portal.
    client_link = served.link_to(CONTACT)
    assert client_link.startswith(f"http://{DOMAIN}:")
    contact = new_page(browser)
    contact.goto(client_link)
    expect(contact.get_by_role("heading", level=1)).to_have_text(f"Welcome to {BRAND_NAME}")
    expect(contact.locator("#invitation")).to_contain_text("Riverbend Clinic")
    set_password(contact, "riverbend front desk")
    expect(contact).to_have_url(re.compile(rf"^http://{re.escape(DOMAIN)}:\d+/client/$"))
    expect(contact.get_by_role("heading", level=1)).to_have_text("Riverbend Clinic")

    # A second use of either link is refused, whether the form was kept open or opened anew.
    set_password(stale, "someone else's try")
    expect(stale.get_by_role("heading", level=1)).to_have_text("This invitation has been used")
    expect(stale.locator("#invitation-state")).to_have_attribute("data-state", "accepted")
    shot(stale, "invitation-used")
    again = new_page(browser)
    again.goto(client_link)
    expect(again.get_by_role("heading", level=1)).to_have_text("This invitation has been used")
    expect(again.locator("#invitation-form")).to_have_count(0)

    owner.goto(f"{served.url}/panel/users")
    expect(owner.locator("#invitations tbody tr", has_text=STAFF)).to_have_attribute(
        "data-state", "accepted"
    )
    expect(owner.locator("#users")).to_contain_text(STAFF)
    expect(owner.locator("#users")).to_contain_text(CONTACT)
    for opened in (owner, staff, stale, contact, again):
        opened.context.close()
