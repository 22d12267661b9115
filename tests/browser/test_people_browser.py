"""People in a real browser (Playwright driving Debian's Chromium, the app served by uvicorn):
the agency's admin changes a staff member's role from Users (it applies at the person's next
click), disables them after a confirmation reached and answered with the keyboard (their
open session is signed out on its next request, and their sign-in is refused with a message
that says why), tries to demote themself as the last admin (refused beside their row), and
enables the person again. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import re
from typing import Any

from tests.browser import test_invitations_browser as invitations_browser
from tests.browser.conftest import PASSWORD
from tests.browser.test_invitations_browser import Served, new_page, shot, sync_api

served = invitations_browser.served  # this module's own copy of the app and its database
browser = invitations_browser.browser

ADMIN = "admin@acme.example"
BILLING = "billing@acme.example"


def sign_in(page: Any, url: str, email: str) -> None:
    page.goto(f"{url}/sign-in")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_an_admin_changes_a_role_and_disables_a_signed_in_user(
    served: Served, browser: Any
) -> None:
    expect = sync_api.expect
    admin, staff = new_page(browser), new_page(browser)
    try:
        sign_in(staff, served.url, BILLING)
        expect(staff).to_have_url(re.compile(r"/panel$"))
        expect(staff.locator(".who")).to_contain_text("· billing")

        sign_in(admin, served.url, ADMIN)
        admin.goto(f"{served.url}/panel/users")
        row = admin.locator("#users tbody tr", has_text=BILLING)
        expect(row).to_have_attribute("data-access", "active")
        row.get_by_label(f"Role of {BILLING}").select_option("viewer")
        row.get_by_role("button", name=f"Change role of {BILLING}").click()
        expect(admin.locator("main p.notice.ok")).to_contain_text("Role changed")
        expect(admin.locator("#users tbody tr", has_text=BILLING).locator(".role")).to_have_text(
            "viewer"
        )
        staff.reload()  # the next click: the new role, still signed in
        expect(staff.locator(".who")).to_contain_text("· viewer")

        # The last admin is offered no way to demote or disable themself (the server refuses
        # it all the same: tests/security/test_people.py).
        own = admin.locator("#users tbody tr", has_text=ADMIN)
        expect(own.locator(".actions")).to_contain_text("last active admin")
        expect(own.get_by_role("button")).to_have_count(0)
        expect(own.locator(".role")).to_have_text("admin")

        # Disable: a confirmation first, answered with the keyboard.
        admin.locator("#users tbody tr", has_text=BILLING).get_by_role(
            "button", name=f"Disable {BILLING}"
        ).click()
        expect(admin.get_by_role("heading", level=1)).to_have_text(f"Disable {BILLING}?")
        shot(admin, "panel-users-disable-confirm")
        confirm = admin.get_by_role("button", name=f"Yes, disable {BILLING}")
        confirm.focus()
        admin.keyboard.press("Enter")
        expect(admin.locator("main p.notice.ok")).to_contain_text("User disabled")
        row = admin.locator("#users tbody tr", has_text=BILLING)
        expect(row).to_have_attribute("data-access", "disabled")
        expect(row.get_by_role("button", name=f"Enable {BILLING}")).to_be_visible()
        shot(admin, "panel-users-disabled")

        # Their open session is signed out on its next request, and sign-in says why.
        staff.goto(f"{served.url}/panel/invoices")
        expect(staff).to_have_url(re.compile(r"/sign-in"))
        staff.get_by_label("E-mail").fill(BILLING)
        staff.get_by_label("Password").fill(PASSWORD)
        staff.get_by_role("button", name="Sign in").click()
        expect(staff.get_by_role("alert")).to_contain_text("disabled by its agency's admin")

        # Enabled again: the same password signs in.
        row.get_by_role("button", name=f"Enable {BILLING}").click()
        expect(admin.locator("main p.notice.ok")).to_contain_text("User enabled")
        sign_in(staff, served.url, BILLING)
        expect(staff).to_have_url(re.compile(r"/panel$"))
        expect(staff.locator(".who")).to_contain_text("· viewer")

        admin.goto(f"{served.url}/panel/audit")
        log = admin.locator("main table")
        expect(log).to_contain_text(f"user {BILLING}")
        expect(log).to_contain_text("disabled")
    finally:
        admin.context.close()
        staff.context.close()
