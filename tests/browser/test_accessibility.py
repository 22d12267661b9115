"""axe-core in Debian's Chromium over every page of the panel, the portal, the console and the
sign-in and error pages, at desktop width and at 390 px (issue #15): WCAG 2.1 A and AA
(`wcag2a`, `wcag2aa`, `wcag21a`, `wcag21aa`), no rule turned off, 0 violations.

Two agency brands are saved first through the panel's brand form, both light enough to fail
as they are (acme #F5C518, 1.5:1 on the page; zenith #7FDBFF, 1.45:1): axe's colour-contrast
rule then checks the shade `domain/contrast.py` renders, on every page.

axe-core comes from PyPI: `axe-playwright-python` (a dev dependency) ships `axe.min.js`; only
that file is used. The pages' Content-Security-Policy allows no inline script, so the contexts
here bypass it to inject axe with `add_script_tag` (nothing else on the pages needs it)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from rebill.domain.contrast import contrast_ratio
from rebill.entrypoints.web.common import PAGE_BACKGROUND
from tests.browser import test_panel_browser as panel_browser
from tests.browser.conftest import DOMAIN, PASSWORD
from tests.browser.test_panel_browser import Served, sign_in, sync_api

served = panel_browser.served  # the app with the Stripe test server, this module's own copy
browser = panel_browser.browser

AXE_JS = Path(str(files("axe_playwright_python").joinpath("axe.min.js")))
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
BRANDS = {"acme": "#f5c518", "zenith": "#7fdbff"}
ADMINS = {"acme": "admin@acme.example", "zenith": "admin@zenith.example"}
CLIENTS = {"acme": "owner@harbor-realty.example", "zenith": "owner@orbit.example"}
SUB_ACCOUNTS = {"acme": "harbor-realty", "zenith": "orbit"}
PLANS = {"acme": "starter", "zenith": "basic"}

# The pages, per face; `{agency}`, `{sub}` and `{plan}` are each agency's. Every GET route of
# the web faces that answers a page is in one of these lists (checked below).
SIGN_IN = ["/sign-in", "/portal/acme/sign-in", "/portal/zenith/sign-in"]
STRAYS = ["/portal/no-such-agency/sign-in", "/checkout/done", "/checkout/cancelled"]
PANEL = [
    "/panel",
    "/panel?period=2026-10",
    "/panel/plans",
    "/panel/plans/new",
    "/panel/plans/{plan}",
    "/panel/sub-accounts",
    "/panel/sub-accounts/new",
    "/panel/sub-accounts/{sub}",  # with its campaigns
    "/panel/sub-accounts/{sub}?period=2026-10",
    "/panel/alerts",
    "/panel/invoices",  # with dunning
    "/panel/gateway",
    "/panel/users",
    "/panel/audit",
    "/panel/brand",
    "/panel/sub-accounts/no-such-client",  # the error page
]
PORTAL = ["/", "/invoices", "/invoices/NO-SUCH.pdf"]  # under /portal/{agency}
OWN_DOMAIN = ["/client/sign-in", "/client/", "/client/invoices"]
CONSOLE = [
    "/console",
    "/console/agencies/new",
    "/console/agencies/acme",
    "/console/agencies/zenith",
    "/console/invoices",
    "/console/agencies/no-such-agency",
]
# An invitation's page (issue 15): a staff link on the platform's host, a client's in its
# agency's portal and on the agency's own domain (`{staff}`, `{client}`: live links made by the
# tour), and a link that names nothing.
INVITATIONS = ["/invitations/{staff}", "/invitations/no-such-link"]
CLIENT_INVITATIONS = ["/portal/{agency}/invitations/{client}"]
OWN_DOMAIN_INVITATIONS = ["/client/invitations/{client}"]
# GET routes that answer no page: files, and redirects to a page above.
NOT_PAGES = {
    "/": "redirects to the sign-in page or the user's home",
    "/portal/{agency_id}": "redirects to /portal/{agency_id}/",
    "/client": "redirects to /client/",
}
NOT_PAGE_SUFFIXES = (".pdf", ".csv", "/logo.png")

RUN_AXE = """tags => axe.run(document, {
  runOnly: {type: 'tag', values: tags},
  resultTypes: ['violations'],
})"""


def violations_of(page: Any, label: str) -> list[str]:
    """axe's WCAG 2.1 A/AA violations on the page as it is now (every `<details>` opened, so
    what it folds away is checked too), one line per rule."""
    page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE_JS))
    result = page.evaluate(RUN_AXE, TAGS)
    found = []
    for v in result["violations"]:
        where = "; ".join(
            f"{' '.join(map(str, n['target']))}: {n['failureSummary']}".replace("\n", " ")
            for n in v["nodes"][:4]
        )
        found.append(f"{label}: {v['id']} ({v['impact']}, {len(v['nodes'])}x) {where}")
    return found


def visit(page: Any, url: str, label: str | None = None) -> list[str]:
    answer = page.goto(url)
    assert answer is not None
    return violations_of(page, label or url)


def visit_all(page: Any, base: str, paths: list[str]) -> list[str]:
    found = []
    for path in paths:
        found += visit(page, f"{base}{path}", path)
    return found


def send_empty(page: Any) -> None:
    """The page's main form sent as it is, past the browser's own checks (the server's
    answer, with its errors beside the fields, is the page to check)."""
    form = page.locator("main form:has(button[type='submit'])").last
    form.evaluate("f => { f.noValidate = true; }")
    form.locator("button[type='submit']").last.click()


def refused(page: Any, label: str) -> list[str]:
    sync_api.expect(page.locator("main .field-error, main .notice.error").first).to_be_visible()
    return violations_of(page, label)


def report(found: list[str]) -> str:
    return f"{len(found)} axe violations:\n" + "\n".join(found)


def new_page(browser: Any, size: tuple[int, int]) -> Any:
    width, height = size
    context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    return opened


@pytest.fixture(scope="module")
def brands(served: Served, browser: Any) -> dict[str, str]:
    """Each agency's light brand colour, saved by its admin through the brand form; the
    colour the pages then render, read back from the sign-in page of its portal."""
    rendered = {}
    for agency, colour in BRANDS.items():
        page = new_page(browser, WIDTHS["desktop"])
        try:
            page.goto(f"{served.url}/sign-in")
            sign_in(page, ADMINS[agency])
            page.goto(f"{served.url}/panel/brand")
            page.locator("#colour").fill(colour)
            if not page.locator("#country").input_value():
                page.locator("#country").fill("US")
            page.get_by_role("button", name="Save brand").click()
            sync_api.expect(page.locator("main p.notice.ok")).to_be_visible()
            assert page.locator("#colour").input_value() == colour
            page.goto(f"{served.url}/portal/{agency}/sign-in")
            rendered[agency] = page.evaluate(
                "() => getComputedStyle(document.documentElement)"
                ".getPropertyValue('--brand').trim()"
            )
        finally:
            page.context.close()
    return rendered


@pytest.fixture(params=list(WIDTHS), ids=list(WIDTHS))
def page(request: pytest.FixtureRequest, browser: Any, brands: dict[str, str]) -> Iterator[Any]:
    opened = new_page(browser, WIDTHS[request.param])
    yield opened
    opened.context.close()


def test_the_light_brands_fail_as_they_are_and_are_rendered_darker(
    brands: dict[str, str],
) -> None:
    """What the axe pass below proves only means something if the colours fail on their own."""
    for agency, colour in BRANDS.items():
        assert contrast_ratio(colour, PAGE_BACKGROUND) < 2
        assert brands[agency] != colour
        assert contrast_ratio(brands[agency], PAGE_BACKGROUND) >= 4.5
        assert contrast_ratio(brands[agency], "#ffffff") >= 4.5


def test_sign_in_and_error_pages_have_no_axe_violations(served: Served, page: Any) -> None:
    base, own = served.url, f"http://{DOMAIN}:{served.port}"
    found = visit_all(page, base, SIGN_IN)
    found += visit(page, f"{own}/client/sign-in")
    # A refused sign-in (the error beside the form), then the pages a stray link reaches.
    page.goto(f"{base}/sign-in")
    page.get_by_label("E-mail").fill("admin@acme.example")
    page.get_by_label("Password").fill(PASSWORD + "?")
    page.get_by_role("button", name="Sign in").click()
    sync_api.expect(page.locator("#sign-in-error")).to_be_visible()
    found += violations_of(page, "/sign-in refused")
    page.goto(f"{base}/portal/acme/sign-in")
    page.get_by_label("E-mail").fill("nobody@acme.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    sync_api.expect(page.get_by_role("alert")).to_be_visible()
    found += violations_of(page, "/portal/acme/sign-in refused")
    found += visit_all(page, base, STRAYS)
    assert found == [], report(found)


@pytest.mark.parametrize("agency", list(BRANDS))
def test_every_panel_page_has_no_axe_violations(served: Served, page: Any, agency: str) -> None:
    base = served.url
    page.goto(f"{base}/sign-in")
    sign_in(page, ADMINS[agency])
    sync_api.expect(page).to_have_url(re.compile(r"/panel"))
    sub, plan = SUB_ACCOUNTS[agency], PLANS[agency]
    paths = [p.format(sub=sub, plan=plan) for p in PANEL]
    found = visit_all(page, base, paths)
    # Forms sent back with their errors beside the fields.
    page.goto(f"{base}/panel/sub-accounts/{sub}")
    caps = page.locator("form[action$='/caps']")
    caps.locator("input[name='monthly_spend']").fill("lots")
    caps.get_by_role("button").first.click()
    found += refused(page, f"/panel/sub-accounts/{sub} caps refused")
    for path in ("/panel/plans/new", "/panel/sub-accounts/new"):
        page.goto(f"{base}{path}")
        send_empty(page)
        found += refused(page, f"{path} refused")
    # The confirmation that stands before a charge.
    page.goto(f"{base}/panel/invoices")
    charge = page.get_by_role("button", name=re.compile(r"^Charge card for "))
    if charge.count():
        charge.first.click()
        sync_api.expect(page.locator("#confirm")).to_be_visible()
        found += violations_of(page, "/panel/invoices charge confirmation")
    else:
        assert agency != "acme", "acme's open invoices offer no charge"
    # The agency's last admin is offered no role or access change; the confirmation before
    # disabling a user (a client, not confirmed); and the refusal beside the row when the
    # last admin's disabling is sent all the same (nothing changes).
    page.goto(f"{base}/panel/users")
    own = page.locator("#users tbody tr", has_text=ADMINS[agency])
    sync_api.expect(own.locator("[id^='last-admin-']")).to_be_visible()
    assert own.get_by_role("button").count() == 0
    client_row = page.locator("#users tbody tr", has_text=CLIENTS[agency])
    client_row.get_by_role("button", name=f"Disable {CLIENTS[agency]}").click()
    sync_api.expect(page.locator("#confirm")).to_be_visible()
    found += violations_of(page, "/panel/users disable confirmation")
    page.goto(f"{base}/panel/users")
    own_id = (own.get_attribute("id") or "").removeprefix("user-")
    page.evaluate(
        """([id, token]) => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = `/panel/users/${id}/disable`;
            for (const [name, value] of [["confirm", "yes"], ["csrf_token", token]]) {
                const input = document.createElement("input");
                input.type = "hidden"; input.name = name; input.value = value;
                form.append(input);
            }
            document.body.append(form);
            form.submit();
        }""",
        [own_id, page.locator("input[name='csrf_token']").first.input_value()],
    )
    found += refused(page, "/panel/users last admin refused")
    assert found == [], report(found)


class Letters:
    """A mailer that keeps the links it was asked to send."""

    def __init__(self) -> None:
        self.tokens: list[str] = []

    def send(self, recipients: Any, subject: str, body: str) -> None:
        link = re.search(r"/invitations/([A-Za-z0-9_-]+)", body)
        assert link, "an invitation without its link"
        self.tokens.append(link.group(1))


def invite(served: Served, agency: str, email: str, role: str, sub: str | None) -> str:
    """A live invitation's token, made through the service as the agency's admin would."""
    from rebill.services.access import invitations
    from rebill.services.access.invitations import Inviter

    app = served.app
    letters = Letters()
    inviter = Inviter(f"{ADMINS[agency]} (admin)", "admin", agency)
    invitations.invite(
        app.uow, letters, served.url, inviter, agency, email, role, sub, app.clock.now()
    )
    [token] = letters.tokens
    return token


def test_invitation_pages_have_no_axe_violations(served: Served, page: Any) -> None:
    base, own = served.url, f"http://{DOMAIN}:{served.port}"
    width = page.viewport_size["width"]
    staff = invite(served, "acme", f"staff-{width}@acme.example", "viewer", None)
    found = []
    for agency in BRANDS:
        client = invite(
            served, agency, f"client-{width}@{agency}.example", "client", SUB_ACCOUNTS[agency]
        )
        paths = [p.format(agency=agency, client=client) for p in CLIENT_INVITATIONS]
        found += visit_all(page, base, paths)
        if agency == "acme":
            found += visit_all(page, own, [p.format(client=client) for p in OWN_DOMAIN_INVITATIONS])
    found += visit_all(page, base, [p.format(staff=staff) for p in INVITATIONS])
    # The form sent back with its errors beside the fields (the passwords differ).
    page.goto(f"{base}/invitations/{staff}")
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("The same password again").fill(PASSWORD + "?")
    page.get_by_role("button", name="Set password and sign in").click()
    found += refused(page, "/invitations/{staff} refused")
    assert found == [], report(found)


@pytest.mark.parametrize("agency", list(BRANDS))
def test_every_portal_page_has_no_axe_violations(served: Served, page: Any, agency: str) -> None:
    base = f"{served.url}/portal/{agency}"
    page.goto(f"{base}/sign-in")
    sign_in(page, CLIENTS[agency])
    sync_api.expect(page.get_by_role("heading", level=1)).to_be_visible()
    found = visit_all(page, base, PORTAL)
    if agency == "acme":
        page.goto(f"{base}/")
        page.get_by_label(re.compile(r"^Amount")).fill("-5")
        page.get_by_role("button", name="Buy credits").click()
        sync_api.expect(page.locator("#amount-error")).to_be_visible()
        found += violations_of(page, f"{base}/ credits refused")
        # A checkout the portal cannot open: its message page.
        page.goto(f"{base}/")
        page.locator("#number_type").evaluate(
            "s => { s.options[0].value = 'no_such_type'; s.selectedIndex = 0; }"
        )
        page.get_by_role("button", name="Rent a number").click()
        sync_api.expect(page.locator("main h1")).not_to_have_text("Harbor Realty")
        sync_api.expect(page.get_by_role("link", name="Back to your account")).to_be_visible()
        found += violations_of(page, f"{base}/checkout refused")
        own = f"http://{DOMAIN}:{served.port}"  # the agency's own domain
        page.goto(f"{own}{OWN_DOMAIN[0]}")
        sign_in(page, CLIENTS[agency])
        found += visit_all(page, own, OWN_DOMAIN[1:])
    assert found == [], report(found)


def test_every_console_page_has_no_axe_violations(served: Served, page: Any) -> None:
    base = served.url
    page.goto(f"{base}/sign-in")
    sign_in(page, "ops@platform.example")
    found = visit_all(page, base, CONSOLE)
    page.goto(f"{base}/console")
    page.locator("#limit-acme").fill("1")  # below what acme owes: asks first
    page.locator("#limit-acme").press("Enter")
    sync_api.expect(page.get_by_text("every new call of its")).to_be_visible()
    found += violations_of(page, "credit limit confirmation")
    page.goto(f"{base}/console")
    page.locator("#w-rate_outbound").fill("0.50")
    page.get_by_role("button", name="Save wholesale prices").click()
    sync_api.expect(page.get_by_role("heading", level=1)).not_to_have_text("Agencies")
    found += violations_of(page, "wholesale price confirmation")
    # Confirmed from the next period (the form's default): listed under the prices, then
    # cancelled (the served database is shared with the other tours).
    page.get_by_role("button", name=re.compile(r"^Yes, change the wholesale")).click()
    scheduled = page.locator("#wholesale-scheduled")
    sync_api.expect(scheduled).to_be_visible()
    found += violations_of(page, "console with a scheduled wholesale change")
    scheduled.get_by_role("button", name=re.compile(r"^Cancel the change from ")).click()
    sync_api.expect(page.locator("#wholesale-scheduled")).to_have_count(0)
    # A tax-mode switch asks first (nothing saved until confirmed).
    tax_form = page.locator("form[action='/console/agencies/acme/tax']")
    mode = page.locator("#tax-acme")
    mode.select_option("none" if mode.input_value() != "none" else "stripe")
    tax_form.get_by_role("button", name="Switch").click()
    sync_api.expect(page.locator("#tax-effect")).to_be_visible()
    found += violations_of(page, "tax mode confirmation")
    page.goto(f"{base}/console/agencies/new")
    send_empty(page)
    found += refused(page, "/console/agencies/new refused")
    assert found == [], report(found)


def visited_paths() -> list[str]:
    """Every path the tours above open (query strings dropped)."""
    paths = SIGN_IN + STRAYS + OWN_DOMAIN + CONSOLE + OWN_DOMAIN_INVITATIONS + INVITATIONS
    for agency in BRANDS:
        paths += [p.format(agency=agency, client="token") for p in CLIENT_INVITATIONS]
        paths += [p.format(sub=SUB_ACCOUNTS[agency], plan=PLANS[agency]) for p in PANEL]
        paths += [f"/portal/{agency}{p}" for p in PORTAL]
    return [p.split("?")[0] for p in paths]


def test_the_tours_open_every_page_the_web_faces_serve() -> None:
    """A page added to the panel, portal or console without a place in the tours fails here."""
    from rebill.entrypoints.web import auth, console, invitations, panel, portal

    routes = {
        route.path
        for router in (
            auth.router,
            *panel.ROUTERS,
            console.router,
            portal.router,
            invitations.router,
        )
        for route in router.routes
        if "GET" in getattr(route, "methods", ())
    }
    pages = {r for r in routes if r not in NOT_PAGES and not r.endswith(NOT_PAGE_SUFFIXES)}
    visited = visited_paths()
    missing = sorted(
        r
        for r in pages
        if not any(re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", r), v) for v in visited)
    )
    assert len(pages) > 20
    assert missing == [], f"pages no axe tour opens: {missing}"
    assert set(NOT_PAGES) <= routes  # an exclusion for a route that is gone is stale
