"""The panel and the portal in a real browser: Playwright driving Debian's Chromium
(/usr/bin/chromium; never a downloaded browser) against `rebill`'s app served by uvicorn in a
thread, with the in-repo Stripe test server as the agency's gateway. Screenshots go to
test-artifacts/screenshots/."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import stripe
import uvicorn

from rebill.bootstrap import App, build
from rebill.config import Settings
from rebill.entrypoints.api.app import create_app
from rebill.services.payments.gateway import link_gateway
from rebill.services.views.panel import set_tax_mode
from stripe_test_server import StripeTestServer
from tests.browser.conftest import (
    BRAND_NAME,
    DOMAIN,
    NOW,
    PASSWORD,
    PLATFORM_NAME,
    World,
    copy_of,
    free_port,
)
from tests.conftest import TEST_SCRYPT_N

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "browser tests need Debian's Chromium at /usr/bin/chromium (apt-get install chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
KEY = "sk_test_rebill_panel_browser"
WEBHOOK_SECRET = "whsec_test_rebill_panel_browser"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Served:
    url: str
    port: int
    app: App
    stripe: StripeTestServer


def onboard(server: StripeTestServer) -> str:
    """A connected account, onboarded, with Stripe Tax set up but no registration yet."""
    client: Any = stripe.StripeClient(
        KEY, base_addresses={"api": server.url, "connect": server.url}
    )
    account = client.v1.accounts.create(params={"type": "express", "country": "US"})
    server.complete_onboarding(account.id)
    client.v1.tax.settings.update(
        params={
            "defaults": {"tax_behavior": "exclusive", "tax_code": "txcd_10000000"},
            "head_office": {"address": {"country": "US", "state": "NY"}},
        },
        options={"stripe_account": account.id},
    )
    return str(account.id)


@pytest.fixture(scope="module")
def served(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    db = copy_of(world, tmp_path_factory.mktemp("browser") / "rebill.db")
    with StripeTestServer(
        webhook_url=f"{url}/webhooks/stripe",
        webhook_secret=WEBHOOK_SECRET,
        webhook_retry_delays=(0.2, 0.5, 1.0),
    ) as gateway_server:
        settings = Settings(
            database_url=db,
            now=NOW,
            stripe_secret_key=KEY,
            stripe_api_base=gateway_server.url,
            stripe_webhook_secret=WEBHOOK_SECRET,
            public_url=url,
            scrypt_n=TEST_SCRYPT_N,
        )
        app = build(settings)
        account = onboard(gateway_server)
        set_tax_mode(app.uow, "acme", "stripe", "0", "test setup", NOW)
        link_gateway(app.uow, app.gateway, "acme", "stripe", account, NOW)
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
            yield Served(url, port, app, gateway_server)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
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


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    context.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, email: str) -> None:
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_agency_admin_sets_prices_sees_tax_checklist_and_a_chart(served: Served, page: Any) -> None:
    expect = sync_api.expect
    page.goto(f"{served.url}/panel")
    expect(page).to_have_url(re.compile(r"/sign-in"))
    sign_in(page, "admin@acme.example")
    expect(page.get_by_role("heading", level=1)).to_contain_text("2026-11 so far")
    expect(page.locator("#revenue")).to_have_text(re.compile(r"^\$[\d,]+\.\d{2}$"))
    expect(page.locator("#last-profit")).to_have_text(re.compile(r"^-?\$[\d,]+\.\d{2}$"))
    shot(page, "panel-home")

    page.get_by_role("link", name="Gateway & tax").click()
    checklist = page.locator("#tax-checklist li")
    expect(checklist).to_have_count(4)
    expect(page.locator("#tax-mode")).to_have_text("stripe")
    for label in ("Head office address", "Preset product tax code", "Default tax behaviour"):
        expect(checklist.filter(has_text=label)).to_have_class("ok")
    registration = checklist.filter(has_text="Tax registration")
    expect(registration).to_have_class("bad")
    expect(registration).to_contain_text("Fix: Add at least one tax registration")
    shot(page, "panel-tax-checklist")

    page.get_by_role("link", name="Plans & rates").click()
    page.get_by_role("link", name="Starter").click()
    outbound = page.get_by_label("Outbound minute (per min)")
    outbound.fill("0.05")  # wholesale is 0.09
    expect(page.locator("#rate_outbound-margin")).to_have_text(re.compile(r"^-0\.04"))
    expect(page.locator("#below-warning")).to_be_visible()
    outbound.fill("0.30")
    expect(page.locator("#rate_outbound-margin")).to_have_text("+0.21 (70%)")
    page.get_by_label("Local number (per month)").fill("4.00")
    expect(page.locator("#number_local-margin")).to_have_text("+2.85 (71.3%)")
    expect(page.locator("#below-warning")).to_be_hidden()
    shot(page, "panel-plan-editor")
    page.get_by_role("button", name="Save plan").click()
    expect(page.locator("main p.notice.ok")).to_have_text("Plan saved.")
    expect(outbound).to_have_value("0.30")

    page.get_by_role("link", name="Sub-accounts").click()
    page.get_by_role("link", name="Harbor Realty").click()
    chart = page.locator("figure.chart svg")
    expect(chart).to_be_visible()
    expect(chart.locator("rect.bar")).to_have_count(30)  # November
    heights = [
        float(h)
        for h in chart.locator("rect.bar").evaluate_all(
            "bars => bars.map(b => b.getAttribute('height'))"
        )
    ]
    assert max(heights) > 0 and heights[-1] == 0  # calls so far, none after the 14th
    shot(page, "panel-sub-account-chart")
    page.get_by_role("link", name="2026-10").click()
    expect(chart.locator("rect.bar")).to_have_count(31)  # October
    page.get_by_role("link", name="Audit log").click()
    expect(page.locator("main table")).to_contain_text("voice.outbound")


def test_client_on_the_agencys_domain_buys_credits_and_downloads_an_invoice(
    served: Served, page: Any, tmp_path: Path
) -> None:
    expect = sync_api.expect
    portal = f"http://{DOMAIN}:{served.port}"
    page.goto(f"{portal}/")
    expect(page).to_have_url(re.compile(rf"{re.escape(DOMAIN)}:\d+/client/sign-in"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Sign in to {BRAND_NAME}")
    sign_in(page, "owner@bright-dental.example")
    expect(page.get_by_role("heading", level=1)).to_have_text("Bright Dental")
    text = page.locator("body").inner_text()
    assert BRAND_NAME in text
    assert PLATFORM_NAME not in page.content() and "rebill" not in page.content().lower()
    expect(page.locator("header .logo")).to_be_visible()
    expect(page.locator("#balance")).to_have_text("$0.00")
    expect(page.locator("figure.chart rect.bar")).to_have_count(30)
    shot(page, "portal-home")

    page.get_by_label("Amount (USD)").fill("20.00")
    page.get_by_role("button", name="Buy credits").click()
    expect(page).to_have_url(re.compile(r"/_test/checkout/"))
    shot(page, "portal-checkout")
    page.get_by_role("button", name="Pay").click()
    expect(page).to_have_url(re.compile(rf"{re.escape(DOMAIN)}:\d+/client/\?done=paid"))
    expect(page.locator("main p.notice.ok")).to_contain_text("your payment went through")
    deadline = time.monotonic() + 15
    while "$20.00" not in page.locator("#balance").inner_text():
        assert time.monotonic() < deadline, "the checkout webhook never credited the wallet"
        time.sleep(0.3)
        page.reload()
    expect(page.locator("#balance")).to_have_text("$20.00")
    shot(page, "portal-balance-after-checkout")

    page.get_by_role("link", name="Invoices").click()
    link = page.get_by_role("link", name="PDF of ACME-000002")
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert download.suggested_filename == "ACME-000002.pdf"
    assert saved.read_bytes().startswith(b"%PDF")
    shot(page, "portal-invoices")


def test_agency_onboards_on_stripe_from_the_panel(served: Served, page: Any) -> None:
    """zenith has no gateway: the admin creates a Stripe account, finishes onboarding on
    (the test server's) Stripe and comes back to the panel with charges enabled."""
    expect = sync_api.expect
    page.goto(f"{served.url}/panel/gateway")
    sign_in(page, "admin@zenith.example")
    expect(page.locator("main")).to_contain_text("No gateway linked yet.")
    page.get_by_label("Country of your business").fill("DE")
    page.get_by_role("button", name="Create a Stripe account").click()
    expect(page).to_have_url(re.compile(r"/panel/gateway\?saved=onboarded$"))
    expect(page.locator("main p.notice.ok")).to_contain_text("Back from Stripe")
    expect(page.locator("main")).to_contain_text("charges enabled")
    expect(page.get_by_role("button", name="Create a Stripe account")).to_have_count(0)
    # zenith's tax mode is `none`: no checklist pretends anything was checked.
    expect(page.locator("#tax-checklist")).to_have_count(0)
    expect(page.locator("#tax-not-checked")).to_contain_text("in none mode")
    shot(page, "panel-gateway-onboarded")


def test_billing_charges_an_invoice_to_the_saved_card_and_refunds_part(
    served: Served, page: Any
) -> None:
    from rebill.services.payments.collect import save_card
    from rebill.services.views import reports

    expect = sync_api.expect
    app = served.app
    save_card(app.uow, app.gateway, "acme", "bright-dental", "pm_card_visa", NOW)
    number = next(
        d["number"]
        for d in reports.list_invoices(app.uow, "acme", None)
        if d["kind"] == "retail" and d["sub_account"] == "bright-dental" and d["status"] == "open"
    )
    page.goto(f"{served.url}/panel/invoices")
    sign_in(page, "billing@acme.example")
    row = page.locator("tr", has=page.get_by_role("rowheader", name=number, exact=True))
    row.get_by_role("button", name=f"Charge card for {number}").click()
    # One click only asks: nothing is charged before the confirmation.
    expect(page.locator("#confirm")).to_contain_text(f"saved card for invoice {number}")
    page.get_by_role("link", name="Cancel").click()
    expect(row.locator("td").nth(4)).to_have_text("open")
    row.get_by_role("button", name=f"Charge card for {number}").click()
    page.get_by_role("button", name=re.compile(r"^Yes, charge ")).click()
    expect(page.locator("main p.notice.ok")).to_have_text("Paid with the saved card.")
    expect(row.locator("td").nth(4)).to_have_text("paid")
    row.get_by_label(f"Refund amount of {number} (blank: all)").fill("1000000")
    row.get_by_role("button", name=f"Refund {number}").click()
    page.get_by_role("button", name="Yes, refund").click()
    expect(page.locator("main p.notice.error")).to_contain_text("not refunded yet")
    row.get_by_label(f"Refund amount of {number} (blank: all)").fill("$5.00")
    row.get_by_role("button", name=f"Refund {number}").click()
    expect(page.locator("#confirm")).to_contain_text(f"Refund $5.00 of {number}")
    page.get_by_role("button", name="Yes, refund").click()
    expect(page.locator("main p.notice.ok")).to_have_text("Refunded; the credit note is issued.")
    with app.uow() as uow:
        audit = [(e.target, e.field, e.new_value) for e in uow.for_agency("acme").audit.latest(10)]
    assert (f"invoice {number}", "refund", "refunded 5.00") in audit
    assert any(
        t == f"invoice {number}" and f == "charge" and v.startswith("paid") for t, f, v in audit
    )
    note = page.locator("tr", has=page.get_by_role("rowheader", name="ACME-CN-000001"))
    expect(note).to_contain_text(f"credit note of {number}")
    expect(note).to_contain_text("$5.00")
    shot(page, "panel-invoices-charged-and-refunded")


def test_client_pays_an_open_invoice_from_the_portal(served: Served, page: Any) -> None:
    expect = sync_api.expect
    portal = f"http://{DOMAIN}:{served.port}"
    page.goto(f"{portal}/")
    sign_in(page, "owner@harbor-realty.example")
    page.get_by_role("link", name="Invoices").click()
    row = page.locator("tr", has=page.get_by_role("rowheader", name="ACME-000005", exact=True))
    expect(row.locator("td").nth(2)).to_have_text("open")
    row.get_by_role("button", name="Pay now ACME-000005").click()
    expect(page).to_have_url(re.compile(r"/_test/checkout/"))
    expect(page.locator("body")).to_contain_text("938.96")
    page.get_by_role("button", name="Pay").click()
    expect(page).to_have_url(re.compile(rf"{re.escape(DOMAIN)}:\d+/client/\?done=paid"))
    deadline = time.monotonic() + 15
    while True:
        page.goto(f"{portal}/client/invoices")
        status = row.locator("td").nth(2).inner_text()
        if status == "paid":
            break
        assert time.monotonic() < deadline, "the checkout webhook never paid the invoice"
        time.sleep(0.3)
    expect(row.get_by_role("button")).to_have_count(0)
    shot(page, "portal-invoice-paid")


def test_agency_creates_a_plan_and_a_client_and_reads_its_margins(
    served: Served, page: Any
) -> None:
    """The owner's two jobs in Chromium: a new plan (a typo kept and explained beside its
    field), a client on it, then who makes money and who is over a cap."""
    expect = sync_api.expect
    page.goto(f"{served.url}/panel/plans")
    sign_in(page, "admin@acme.example")
    page.get_by_role("link", name="New plan").click()
    page.get_by_label("Name", exact=True).fill("Dental Plus")
    page.get_by_label("Monthly fee (USD)").fill("$149")
    page.get_by_label("Included minutes").fill("1,500")
    page.get_by_label("Outbound minute (per min)").fill("0.2o")
    page.get_by_label("Inbound minute (per min)").fill("0.18")
    page.get_by_label("Local number (per month)").fill("3.00")
    page.get_by_label("Toll-free number (per month)").fill("5.00")
    page.get_by_label("Outbound billing increment").fill("30/6")
    page.get_by_role("button", name="Create plan").click()
    expect(page.locator("#rate_outbound-error")).to_be_visible()
    expect(page.get_by_label("Outbound minute (per min)")).to_have_value("0.2o")
    expect(page.get_by_label("Outbound billing increment")).to_have_value("30/6")
    shot(page, "panel-new-plan-refused")
    page.get_by_label("Outbound minute (per min)").fill("0.20")
    page.get_by_role("button", name="Create plan").click()
    expect(page.locator("main p.notice.ok")).to_have_text("Plan saved.")
    expect(page.locator("#included-cost")).to_have_text("$135.00")
    expect(page.locator("#plan-fee")).to_have_text("$149.00")
    expect(page.locator("#plan-impact")).to_contain_text("No client is on this plan")
    shot(page, "panel-plan-economics")

    page.get_by_role("link", name="Sub-accounts").click()
    page.get_by_role("link", name="Add client").click()
    page.get_by_label("Client name").fill("Smile Studio")
    page.get_by_label("Billing e-mail").fill("billing@smile.example")
    page.get_by_label("Plan").select_option("dental-plus")
    page.get_by_label("Monthly spend cap (USD)").fill("$300")
    page.get_by_label("Alert at").fill("50, 80, 100")
    page.get_by_role("button", name="Add client").click()
    expect(page.locator("main p.notice.ok")).to_have_text("Client added.")
    expect(page.get_by_label("Alert at (% of each cap)")).to_have_value("50%, 80%, 100%")
    expect(page.get_by_label("Monthly spend cap (USD)")).to_have_value("300.00")

    page.get_by_role("link", name="Sub-accounts", exact=True).click()
    page.get_by_role("link", name=re.compile(r"^Margin")).first.click()
    expect(page.locator("#clients thead th[aria-sort]")).to_have_count(1)
    expect(page.locator("#clients tbody tr", has_text="Smile Studio")).to_be_visible()
    shot(page, "panel-clients-profit")
    page.get_by_role("link", name=re.compile(r"^Alerts( \(\d+ over a cap\))?$")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Alerts")
    shot(page, "panel-alerts")


WIDE_ELEMENTS = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
  .filter(e => !e.closest('.scroll'))
  .slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id)"""


@pytest.mark.parametrize(
    "path",
    ["/panel/plans/new", "/panel/sub-accounts", "/panel/sub-accounts/new", "/panel/alerts"],
)
def test_new_panel_pages_do_not_scroll_sideways_at_390_px(
    served: Served, browser: Any, path: str
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    narrow = context.new_page()
    try:
        narrow.goto(f"{served.url}{path}")
        sign_in(narrow, "admin@acme.example")
        narrow.goto(f"{served.url}{path}")
        overflow = narrow.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        wide = narrow.evaluate(WIDE_ELEMENTS)
        assert overflow <= 0, f"{path} scrolls {overflow} px sideways at 390 px: {wide}"
    finally:
        context.close()
