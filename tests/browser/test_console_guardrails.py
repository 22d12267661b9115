"""The platform console's guardrails over HTTP (FastAPI TestClient, no browser): a credit
limit below an agency's exposure and a wholesale price change show their effect and ask
first, nothing changing before the confirmation; an agency page; adding an agency."""

from __future__ import annotations

import re
from decimal import Decimal

from fastapi.testclient import TestClient

from rebill.bootstrap import App
from rebill.services.catalog.wholesale_schedule import current_period, later_periods
from rebill.services.ports import ScheduledCard
from tests.browser.conftest import PASSWORD, csrf_of


def operator_token(client: TestClient) -> str:
    token = csrf_of(client.get("/sign-in").text)
    client.post(
        "/sign-in",
        data={"email": "ops@platform.example", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    return csrf_of(client.get("/console").text)


def limit_of(app: App) -> int | None:
    with app.uow() as uow:
        agency = uow.for_agency("acme").agency.get()
    assert agency is not None
    return agency.credit_limit_micros


def test_a_limit_below_exposure_asks_first_and_says_what_stops(
    app: App, client: TestClient
) -> None:
    token = operator_token(client)
    before = limit_of(app)
    with app.uow() as uow:
        clients = len(uow.for_agency("acme").sub_accounts.ids())
    asked = client.post(
        "/console/agencies/acme/credit-limit", data={"credit_limit": "$1", "csrf_token": token}
    )
    assert asked.status_code == 200
    assert f"every new call of its {clients} clients is refused" in asked.text
    assert limit_of(app) == before  # nothing saved before the confirmation
    confirmed = client.post(
        "/console/agencies/acme/credit-limit",
        data={"credit_limit": "1", "confirm": "yes", "csrf_token": token},
        follow_redirects=False,
    )
    assert confirmed.status_code == 303
    assert limit_of(app) == 1_000_000
    page = client.get("/console/agencies/acme").text
    assert 'id="agency-blocked"' in page
    # A limit above the exposure saves at once.
    high = client.post(
        "/console/agencies/acme/credit-limit",
        data={"credit_limit": "1,000,000", "csrf_token": token},
        follow_redirects=False,
    )
    assert high.status_code == 303 and limit_of(app) == 1_000_000_000_000


def test_a_wholesale_change_shows_each_agencys_margin_and_asks_first(
    app: App, client: TestClient
) -> None:
    token = operator_token(client)
    with app.uow() as uow:
        card = uow.platform.wholesale.card()
    form = {
        "rate_outbound": "0.50",
        "rate_inbound": "0.01",
        "number_local": "1.15",
        "number_toll_free": "2.00",
        "agency_monthly_fee": "0",
        "csrf_token": token,
    }
    asked = client.post("/console/wholesale", data=form)
    assert asked.status_code == 200
    impact = asked.text.split('id="impact-acme"')[1].split("</table>")[0]
    assert "below wholesale" in impact
    assert re.search(r"<th scope=\"row\">Starter</th><td>outbound</td>", impact)
    with app.uow() as uow:
        assert uow.platform.wholesale.card() == card
    confirmed = client.post(
        "/console/wholesale", data={**form, "confirm": "yes"}, follow_redirects=False
    )
    assert confirmed.status_code == 303
    with app.uow() as uow:
        assert uow.platform.wholesale.card().voice["outbound"].per_minute_micros == 500_000


def test_the_operator_adds_an_agency_and_opens_its_page(app: App, client: TestClient) -> None:
    token = operator_token(client)
    assert 'href="/console/agencies/new"' in client.get("/console").text
    bad = {"id": "Nova!", "name": "Nova Voice", "invoice_prefix": "nova", "timezone": "Mars/Base"}
    refused = client.post("/console/agencies/new", data={**bad, "csrf_token": token})
    assert refused.status_code == 422
    assert 'value="Nova Voice"' in refused.text and 'value="Mars/Base"' in refused.text
    good = {"id": "nova", "name": "Nova Voice", "invoice_prefix": "NOVA", "timezone": "UTC"}
    made = client.post(
        "/console/agencies/new", data={**good, "csrf_token": token}, follow_redirects=False
    )
    assert made.status_code == 303 and made.headers["location"].startswith("/console/agencies/nova")
    page = client.get("/console/agencies/nova").text
    assert "Nova Voice" in page and "No clients yet." in page
    with app.uow() as uow:
        entries = uow.for_agency("nova").audit.latest(20)
    assert any(
        e.field == "created" and e.actor == "ops@platform.example (platform)" for e in entries
    )


def test_a_wholesale_change_from_a_later_period_is_scheduled_listed_and_cancellable(
    app: App, client: TestClient
) -> None:
    token = operator_token(client)
    now = app.clock.now()
    first, later = later_periods(now, 2)
    home = client.get("/console").text
    assert f'<option value="{first}" selected>From {first} (the next period)</option>' in home
    with app.uow() as uow:
        in_force = uow.platform.wholesale.card(current_period(now))
    form = {
        "rate_outbound": "0.11",
        "rate_inbound": "0.01",
        "number_local": "1.15",
        "number_toll_free": "2.00",
        "agency_monthly_fee": "5",
        "takes_effect": later,
        "csrf_token": token,
    }
    asked = client.post("/console/wholesale", data=form)
    assert asked.status_code == 200
    assert f"from each agency's <strong>{later}</strong> period on" in asked.text
    # A period that has begun is refused beside the field, nothing saved.
    refused = client.post(
        "/console/wholesale",
        data={**form, "takes_effect": current_period(now), "confirm": "yes"},
    )
    assert refused.status_code == 422 and "has already begun" in refused.text
    with app.uow() as uow:
        assert uow.platform.wholesale.scheduled() == []
    confirmed = client.post(
        "/console/wholesale", data={**form, "confirm": "yes"}, follow_redirects=False
    )
    assert confirmed.headers["location"] == "/console?saved=wholesale_scheduled"
    with app.uow() as uow:
        assert uow.platform.wholesale.card(current_period(now)) == in_force
        card = uow.platform.wholesale.card(later)
        assert card.voice["outbound"].per_minute_micros == 110_000
        assert card.agency_monthly_fee_micros == 5_000_000
        assert uow.platform.wholesale.card(first) == in_force
    listed = client.get("/console").text.split('id="wholesale-scheduled"')[1].split("</table>")[0]
    assert f'<th scope="row">{later}</th>' in listed and "0.11" in listed
    cancelled = client.post(
        f"/console/wholesale/scheduled/{later}/cancel",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert cancelled.status_code == 303
    with app.uow() as uow:
        assert uow.platform.wholesale.scheduled() == []
        assert uow.platform.wholesale.card(later) == in_force
        audit = {(e.field, e.old_value, e.new_value) for e in uow.platform.audit.latest(20)}
    assert ("wholesale_from", "none", later) in audit
    assert ("wholesale_from", later, "cancelled") in audit
    again = client.post(f"/console/wholesale/scheduled/{later}/cancel", data={"csrf_token": token})
    assert again.status_code == 404


def tax_of(app: App) -> tuple[str, Decimal]:
    with app.uow() as uow:
        agency = uow.for_agency("acme").agency.get()
    assert agency is not None
    return agency.tax.mode, agency.tax.rate_percent


def test_a_tax_mode_switch_says_what_it_does_and_asks_first(app: App, client: TestClient) -> None:
    token = operator_token(client)
    before = tax_of(app)
    assert before[0] != "stripe"
    asked = client.post(
        "/console/agencies/acme/tax", data={"mode": "stripe", "rate": "", "csrf_token": token}
    )
    assert asked.status_code == 200
    assert "→ <strong>Stripe Tax</strong>" in asked.text
    assert "tax_not_configured" in asked.text and 'id="confirm"' in asked.text
    assert tax_of(app) == before  # nothing saved before the confirmation
    asked = client.post(
        "/console/agencies/acme/tax", data={"mode": "manual", "rate": "8.25", "csrf_token": token}
    )
    assert "8.25 % " in asked.text and tax_of(app) == before
    confirmed = client.post(
        "/console/agencies/acme/tax",
        data={"mode": "manual", "rate": "8.25", "confirm": "yes", "csrf_token": token},
        follow_redirects=False,
    )
    assert confirmed.status_code == 303 and tax_of(app) == ("manual", Decimal("8.25"))
    # The same mode and rate again: nothing to confirm, saved at once (and unchanged).
    again = client.post(
        "/console/agencies/acme/tax",
        data={"mode": "manual", "rate": "8.250", "csrf_token": token},
        follow_redirects=False,
    )
    assert again.status_code == 303 and tax_of(app) == ("manual", Decimal("8.25"))
    # A mode that is none of the three is refused beside the agency, nothing changed.
    refused = client.post(
        "/console/agencies/acme/tax", data={"mode": "vat", "rate": "1", "csrf_token": token}
    )
    assert refused.status_code == 422 and tax_of(app) == ("manual", Decimal("8.25"))


def test_agency_staff_cannot_schedule_cancel_or_switch_the_platforms_terms(
    app: App, client: TestClient
) -> None:
    """The wholesale card, its schedule and an agency's tax mode are the platform's: an agency
    admin signed in to the panel reaches none of the console's forms, and nothing changes."""
    now = app.clock.now()
    later = later_periods(now, 1)[0]
    with app.uow() as uow:
        # A change the platform scheduled, which the agency will try to cancel.
        platform = uow.platform.settings.get()
        assert platform is not None
        card = uow.platform.wholesale.card(current_period(now))
        uow.platform.wholesale.schedule(ScheduledCard(later, card, now, "ops"))
        uow.commit()
    before = (tax_of(app), scheduled_of(app))
    token = csrf_of(client.get("/sign-in").text)
    client.post(
        "/sign-in",
        data={"email": "admin@acme.example", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    token = csrf_of(client.get("/panel/users").text)
    attempts = [
        (
            "/console/wholesale",
            {"rate_outbound": "0", "rate_inbound": "0", "takes_effect": "now", "confirm": "yes"},
        ),
        (f"/console/wholesale/scheduled/{later}/cancel", {}),
        ("/console/agencies/acme/tax", {"mode": "none", "rate": "0", "confirm": "yes"}),
    ]
    for path, data in attempts:
        answer = client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
        assert answer.status_code == 404, path
    assert (tax_of(app), scheduled_of(app)) == before


def scheduled_of(app: App) -> list[tuple[str, int]]:
    with app.uow() as uow:
        return [
            (c.period, c.card.voice["outbound"].per_minute_micros)
            for c in uow.platform.wholesale.scheduled()
        ]
