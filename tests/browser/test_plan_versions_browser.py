"""Plan versions in Chromium (issue 15): the plan editor of a plan in use says how many clients
a change affects and offers "from the next period" or "new clients only" before saving; the
choice is kept and audited. Same setup as test_panel_browser (its fixtures, this module's own
served app)."""

from __future__ import annotations

import re
from typing import Any

from rebill.domain.charges import plan_at
from tests.browser import test_panel_browser as panel_browser
from tests.browser.conftest import NOW
from tests.browser.test_panel_browser import Served, shot, sign_in, sync_api

served = panel_browser.served  # this module's own copy of the app
browser = panel_browser.browser
page = panel_browser.page


def on_current_terms(served: Served, plan_id: str) -> list[str]:
    with served.app.uow() as uow:
        tenant = uow.for_agency("acme")
        history = tenant.plans.history(tenant.plans.all())
    return sorted(
        sub_id
        for sub_id, changes in history.items()
        if (p := plan_at(changes, NOW)) is not None and p.id == plan_id and p.version is None
    )


def test_the_editor_says_whom_a_change_affects_and_offers_the_two_choices(
    served: Served, page: Any
) -> None:
    expect = sync_api.expect
    clients = on_current_terms(served, "starter")
    assert len(clients) > 1
    page.goto(f"{served.url}/panel/plans/starter")
    sign_in(page, "admin@acme.example")
    impact = page.locator("#plan-impact")
    expect(impact).to_contain_text(f"This change affects {len(clients)} clients")
    choices = page.get_by_role("group", name=re.compile(r"^When the change reaches the"))
    expect(choices).to_contain_text(f"the {len(clients)} clients on this plan")
    next_period = page.get_by_role("radio", name=re.compile(r"^From the next period"))
    new_clients = page.get_by_role("radio", name="New clients only")
    expect(next_period).to_be_checked()  # the choice is shown, made, before saving
    expect(new_clients).not_to_be_checked()
    expect(page.get_by_text("keeps billing on the current terms, to the cent")).to_be_visible()
    shot(page, "panel-plan-versions-choice")

    new_clients.check()
    page.get_by_label("Monthly fee (USD)").fill("$59.00")
    page.get_by_role("button", name="Save plan").click()
    expect(page.locator("main p.notice.ok")).to_have_text("Plan saved.")
    expect(page.get_by_label("Monthly fee (USD)")).to_have_value("59.00")
    expect(impact).to_contain_text("No client is on this plan's current terms")
    expect(impact).to_contain_text(f"{len(clients)} clients")
    expect(impact).to_contain_text("stay on earlier terms of this plan")
    expect(page.get_by_role("radio")).to_have_count(0)  # nobody left to ask about
    shot(page, "panel-plan-versions-kept")
    assert on_current_terms(served, "starter") == []
    with served.app.uow() as uow:
        entries = uow.for_agency("acme").audit.latest(20)
    assert any(e.field == "takes_effect" and e.new_value == "new_clients" for e in entries)


def test_the_choices_fit_a_phone(served: Served, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    narrow = context.new_page()
    try:
        narrow.goto(f"{served.url}/panel/plans/growth")
        sign_in(narrow, "admin@acme.example")
        narrow.goto(f"{served.url}/panel/plans/growth")
        sync_api.expect(narrow.get_by_role("radio")).to_have_count(2)
        overflow = narrow.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
    finally:
        context.close()
