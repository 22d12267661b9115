"""Every page of the demo at a 390-px phone width (issue #15): no sideways scroll, and every
element drawn in the brand colour (text on the page, white text on the brand) at WCAG AA 4.5:1
or better, computed in the page from the rendered colours. The agency's brand is first set to
a light yellow (1.4:1 on the page) so the automatic adjustment is what is measured."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import test_panel_browser as panel_browser
from tests.browser.conftest import DOMAIN
from tests.browser.test_panel_browser import WIDE_ELEMENTS, Served, sign_in, sync_api

served = panel_browser.served  # the app with the Stripe test server, this module's own copy
browser = panel_browser.browser

YELLOW = "#facc15"
WIDTH = 390

PANEL = [
    "/panel",
    "/panel?period=2026-10",
    "/panel/plans",
    "/panel/plans/new",
    "/panel/plans/starter",
    "/panel/sub-accounts",
    "/panel/sub-accounts/new",
    "/panel/sub-accounts/harbor-realty",
    "/panel/alerts",
    "/panel/invoices",
    "/panel/gateway",
    "/panel/users",
    "/panel/audit",
    "/panel/brand",
    "/panel/sub-accounts/no-such-client",  # the error page
]
CONSOLE = ["/console", "/console/agencies/new", "/console/agencies/acme", "/console/invoices"]
PORTAL = ["/portal/acme/", "/portal/acme/invoices"]

# WCAG 2.1 in the page, on colours as the browser computes them ("rgb(r, g, b)"); the
# background of an element is the first opaque one up the tree.
WCAG_JS = """
  const rgba = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = s => {
    const [r, g, b] = rgba(s).slice(0, 3).map(v => {
      v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratioOf = (x, y) => {
    const [hi, lo] = [lum(x), lum(y)].sort((p, q) => q - p);
    return (hi + 0.05) / (lo + 0.05);
  };
  const background = e => {
    for (let n = e; n; n = n.parentElement) {
      const c = getComputedStyle(n).backgroundColor, a = rgba(c);
      if (a.length === 3 || a[3] > 0) return c;
    }
    return 'rgb(255, 255, 255)';
  };
"""

CONTRAST = (
    "() => {"
    + WCAG_JS
    + """
  const probe = document.createElement('span');
  probe.style.color = 'var(--brand)';
  document.body.appendChild(probe);
  const brand = getComputedStyle(probe).color;
  probe.remove();
  const texty = e => [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())
    || e.matches('input[type=submit], input[type=button]');
  const seen = [], poor = [];
  for (const e of document.querySelectorAll('body *')) {
    if (!texty(e) || !e.getClientRects().length || e.closest('[disabled], .skip, svg')) continue;
    const fg = getComputedStyle(e).color, bg = background(e);
    if (fg !== brand && bg !== brand) continue;
    const ratio = ratioOf(fg, bg);
    seen.push(ratio);
    if (ratio < 4.5) poor.push(`${e.tagName}.${e.className} ${fg} on ${bg}: ${ratio.toFixed(2)}`);
  }
  return {brand, seen: seen.length, poor: poor.slice(0, 5)};
}"""
)

# The focused element's outline against what is around it (WCAG 1.4.11: 3:1).
FOCUS_RING = (
    "() => {"
    + WCAG_JS
    + """
  const e = document.activeElement, s = getComputedStyle(e);
  const label = (e.textContent || e.name || '').trim().slice(0, 20);
  return {what: e.tagName + '.' + e.className + ' ' + label, style: s.outlineStyle,
          width: parseFloat(s.outlineWidth),
          ratio: ratioOf(s.outlineColor, background(e.parentElement))};
}"""
)


@pytest.fixture(scope="module")
def yellow(served: Served, browser: Any) -> str:
    """The agency's brand saved as a light yellow through the panel's brand form."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{served.url}/panel/brand")
        sign_in(page, "admin@acme.example")
        page.goto(f"{served.url}/panel/brand")
        page.locator("#colour").fill(YELLOW)
        if not page.locator("#country").input_value():
            page.locator("#country").fill("US")
        page.get_by_role("button", name="Save brand").click()
        sync_api.expect(page.locator("main p.notice.ok")).to_be_visible()
        stored = page.locator("#colour").input_value()
    finally:
        context.close()
    return str(stored)


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": WIDTH, "height": 844})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    context.close()


def problems_of(page: Any, path: str) -> list[str]:
    """What is wrong with the page at 390 px: sideways scroll, brand text under 4.5:1."""
    found = []
    width = page.evaluate("() => document.scrollingElement.scrollWidth")
    if width > WIDTH:
        found.append(f"{path}: {width} px wide, {page.evaluate(WIDE_ELEMENTS)}")
    contrast = page.evaluate(CONTRAST)
    if contrast["seen"] == 0:
        found.append(f"{path}: nothing in the brand colour {contrast['brand']}")
    found += [f"{path}: {line}" for line in contrast["poor"]]
    return found


def tour(page: Any, base: str, sign_in_path: str, who: str, paths: list[str]) -> list[str]:
    """The sign-in page's problems, then (signed in as `who`) each of `paths`'."""
    page.goto(f"{base}{sign_in_path}")
    found = problems_of(page, sign_in_path)
    sign_in(page, who)
    return found + visit_all(page, base, paths)


def visit_all(page: Any, base: str, paths: list[str]) -> list[str]:
    found = []
    for path in paths:
        page.goto(f"{base}{path}")
        found += problems_of(page, path)
    return found


def test_the_stored_colour_is_kept_and_the_rendered_one_reaches_4_5(
    yellow: str, served: Served, phone: Any
) -> None:
    assert yellow == YELLOW
    phone.goto(f"{served.url}/sign-in")
    sign_in(phone, "admin@acme.example")
    phone.goto(f"{served.url}/panel/brand")
    assert phone.locator("#colour").input_value() == YELLOW
    hint = phone.locator("#colour-shown").inner_text()
    phone.goto(f"{served.url}/portal/acme/sign-in")
    rendered = phone.evaluate(
        "() => getComputedStyle(document.documentElement).getPropertyValue('--brand').trim()"
    )
    assert rendered not in (YELLOW, "#000000")
    assert hint.startswith(f"Shown as {rendered}, a shade darker")
    assert problems_of(phone, "/portal/acme/sign-in") == []


def test_every_panel_page_fits_390_px_with_readable_brand_colours(
    yellow: str, served: Served, phone: Any
) -> None:
    found = tour(phone, served.url, "/sign-in", "admin@acme.example", PANEL)
    assert found == [], "\n".join(found)


def test_every_console_page_fits_390_px_with_readable_colours(
    yellow: str, served: Served, phone: Any
) -> None:
    found = tour(phone, served.url, "/sign-in", "ops@platform.example", CONSOLE)
    phone.goto(f"{served.url}/console")
    phone.locator("#limit-acme").fill("1")  # below what acme owes: asks first, saves nothing
    phone.locator("#limit-acme").press("Enter")
    sync_api.expect(phone.get_by_text("every new call of its")).to_be_visible()
    found += problems_of(phone, "the credit limit's confirmation")
    assert found == [], "\n".join(found)


def test_every_portal_page_fits_390_px_with_readable_brand_colours(
    yellow: str, served: Served, phone: Any
) -> None:
    client = "owner@harbor-realty.example"
    found = tour(phone, served.url, "/portal/acme/sign-in", client, PORTAL)
    own = f"http://{DOMAIN}:{served.port}"  # the agency's own domain: the same pages at /client
    found += tour(phone, own, "/client/sign-in", client, ["/client/", "/client/invoices"])
    sync_api.expect(phone.get_by_role("heading", level=1)).to_contain_text("Invoices")
    assert found == [], "\n".join(found)


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("admin@acme.example", "/panel/plans/starter"),
        ("owner@harbor-realty.example", "/portal/acme/"),
    ],
)
def test_every_control_reached_by_keyboard_shows_a_focus_ring(
    yellow: str, served: Served, phone: Any, who: str, path: str
) -> None:
    phone.goto(f"{served.url}{path}")
    sign_in(phone, who)
    phone.goto(f"{served.url}{path}")
    faint, reached = [], 0
    for reached in range(25):  # noqa: B007 (counted)
        phone.keyboard.press("Tab")
        ring = phone.evaluate(FOCUS_RING)
        if ring["what"].startswith("BODY."):  # past the last control
            break
        if ring["style"] == "none" or ring["width"] < 2 or ring["ratio"] < 3:
            faint.append(ring)
    assert reached > 3, f"only {reached} controls reached by Tab on {path}"
    assert faint == []
