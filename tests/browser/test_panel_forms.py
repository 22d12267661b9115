"""The panel's forms over HTTP (FastAPI TestClient, no browser): a new plan and a new client
made from the panel, refusals beside their fields with what was typed kept, forgiving input
(`$300`, `50, 80, 100`), what a plan change touches, the economics of the included minutes,
the clients' profit table, and the platform's fields out of an agency user's reach."""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

from fastapi.testclient import TestClient

from rebill.bootstrap import App
from rebill.services.catalog.document import agency_entry
from tests.browser.conftest import PASSWORD, csrf_of


def signed_in(client: TestClient, email: str = "admin@acme.example") -> str:
    token = csrf_of(client.get("/sign-in").text)
    response = client.post(
        "/sign-in",
        data={"email": email, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    return csrf_of(client.get("/panel/plans").text)


def field_error(html: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="{name}-error">([^<]*)</p>', html)
    assert found, f"no error beside {name}"
    return found.group(1)


def value_of(html: str, name: str) -> str:
    found = re.search(rf'<input id="{name}" name="{name}" value="([^"]*)"', html)
    assert found, f"no input {name}"
    return found.group(1)


NEW_PLAN = {
    "name": "Clinic Pro",
    "monthly_fee": "$149.00",
    "included_minutes": "1,500",
    "overage": "postpaid",
    "included_numbers": "1",
    "rate_outbound": "0.20",
    "rate_inbound": "0.18",
    "increment_outbound": "30/6",
    "increment_inbound": "60/60",
    "connect_outbound": "0.01",
    "connect_inbound": "0",
    "number_local": "3.00",
    "number_toll_free": "5.00",
}


def test_a_new_plan_refused_keeps_what_was_typed_then_is_created(
    app: App, client: TestClient
) -> None:
    token = signed_in(client)
    page = client.get("/panel/plans")
    assert 'href="/panel/plans/new"' in page.text
    bad = {**NEW_PLAN, "monthly_fee": "lots", "increment_outbound": "thirty", "csrf_token": token}
    refused = client.post("/panel/plans/new", data=bad)
    assert refused.status_code == 422
    assert value_of(refused.text, "monthly_fee") == "lots"
    assert value_of(refused.text, "included_minutes") == "1,500"
    assert "not a decimal number" in field_error(refused.text, "monthly_fee")
    assert "What was typed is kept" not in refused.text  # the notice says it in plain words
    assert "what you typed is kept" in refused.text
    assert "clinic-pro" not in app_plans(app)

    bad = {**NEW_PLAN, "increment_outbound": "thirty", "csrf_token": token}
    refused = client.post("/panel/plans/new", data=bad)
    assert refused.status_code == 422
    assert value_of(refused.text, "increment_outbound") == "thirty"
    assert field_error(refused.text, "increment_outbound")
    assert "clinic-pro" not in app_plans(app)

    made = client.post(
        "/panel/plans/new", data={**NEW_PLAN, "csrf_token": token}, follow_redirects=False
    )
    assert (
        made.status_code == 303 and made.headers["location"] == "/panel/plans/clinic-pro?saved=plan"
    )
    plan = app_plans(app)["clinic-pro"]
    assert plan.monthly_fee_micros == 149_000_000 and plan.included_minutes == 1500
    assert str(plan.voice["outbound"].increment) == "30/6"
    assert str(plan.voice["inbound"].increment) == "60/60"
    assert plan.voice["outbound"].connect_fee_micros == 10_000
    shown = client.get("/panel/plans/clinic-pro").text
    assert "No client is on this plan" in shown
    # The economics of the included minutes (outbound wholesale 0.09 in the demo).
    assert re.search(r'id="included-cost">\$135\.00<', shown)
    assert re.search(r'id="plan-fee">\$149\.00<', shown)
    assert "Break-even: the fee covers 1,655 minutes" in shown
    again = client.post("/panel/plans/new", data={**NEW_PLAN, "csrf_token": token})
    assert again.status_code == 422
    assert "exists already" in field_error(again.text, "id")


def app_plans(app: App) -> dict[str, object]:
    with app.uow() as uow:
        return dict(uow.for_agency("acme").plans.all())  # type: ignore[arg-type]


def test_editing_a_plan_says_whom_it_affects_and_edits_increments(
    app: App, client: TestClient
) -> None:
    token = signed_in(client)
    with app.uow() as uow:
        history = uow.for_agency("acme").plans.history(uow.for_agency("acme").plans.all())
    on_starter = sum(1 for changes in history.values() if changes[-1].plan.id == "starter")
    assert on_starter > 0
    shown = client.get("/panel/plans/starter").text
    clients = "clients" if on_starter != 1 else "client"
    assert f"This change affects <strong>{on_starter} {clients}</strong>" in shown
    # The two choices, "from the next period" chosen unless the other is.
    assert re.search(r'value="next_period"[^>]*checked', shown)
    assert 'value="new_clients"' in shown and "New clients only" in shown
    refused = client.post(
        "/panel/plans/starter",
        data={"increment_outbound": "6/6", "takes_effect": "someday", "csrf_token": token},
    )
    assert refused.status_code == 422 and field_error(refused.text, "takes_effect")
    form = {"increment_outbound": "6/6", "csrf_token": token}
    saved = client.post("/panel/plans/starter", data=form, follow_redirects=False)
    assert saved.status_code == 303
    plan = app_plans(app)["starter"]
    assert str(plan.voice["outbound"].increment) == "6/6"  # type: ignore[attr-defined]
    with app.uow() as uow:
        tenant = uow.for_agency("acme")
        entries = tenant.audit.latest(20)
        history = tenant.plans.history(tenant.plans.all())
    assert any(e.field == "voice.outbound.increment" and e.new_value == "6/6" for e in entries)
    assert any(e.field == "takes_effect" and e.new_value == "next_period" for e in entries)
    # This period on the old terms (a kept version), the next on the new: for each client.
    on_old = [c for c in history.values() if len(c) > 1 and c[-2].plan.version is not None]
    assert len(on_old) == on_starter
    assert all(c[-1].change == "version" and c[-1].plan.version is None for c in on_old)
    assert all(str(c[-2].plan.voice["outbound"].increment) != "6/6" for c in on_old)
    some = next(s for s, c in history.items() if c in on_old)
    page = client.get(f"/panel/sub-accounts/{some}").text
    assert "(on its earlier terms until 2026-12-01)" in page
    # The same clients are on the plan still; a further change affects them, at the same start.
    shown = client.get("/panel/plans/starter").text
    assert f"This change affects <strong>{on_starter} {clients}</strong>" in shown


def test_new_clients_only_from_the_panel_keeps_the_clients_on_the_old_terms(
    app: App, client: TestClient
) -> None:
    token = signed_in(client)
    with app.uow() as uow:
        before = uow.for_agency("acme").plans.all()["starter"]
    form = {"monthly_fee": "$79.00", "takes_effect": "new_clients", "csrf_token": token}
    saved = client.post("/panel/plans/starter", data=form, follow_redirects=False)
    assert saved.status_code == 303
    assert app_plans(app)["starter"].monthly_fee_micros == 79_000_000  # type: ignore[attr-defined]
    with app.uow() as uow:
        history = uow.for_agency("acme").plans.history(uow.for_agency("acme").plans.all())
    kept = [c[-1].plan for c in history.values() if c[-1].plan.id == "starter"]
    assert kept and all(p.version == 1 for p in kept)
    some = next(s for s, c in history.items() if c[-1].plan.id == "starter")
    page = client.get(f"/panel/sub-accounts/{some}").text
    assert "(on its earlier terms, kept for this client)" in page
    assert all(p.monthly_fee_micros == before.monthly_fee_micros for p in kept)
    shown = client.get("/panel/plans/starter").text
    assert "No client is on this plan's current terms" in shown
    assert f"{len(kept)} clients" in shown and "on earlier terms of this plan" in shown
    assert 'name="takes_effect"' not in shown  # nobody to ask about
    # A new client takes the new terms.
    made = client.post(
        "/panel/sub-accounts/new",
        data={**NEW_CLIENT, "csrf_token": token},
        follow_redirects=False,
    )
    assert made.status_code == 303
    with app.uow() as uow:
        [change] = uow.for_agency("acme").plans.history_of("coastal-clinic")
    assert change.plan.version is None and change.plan.monthly_fee_micros == 79_000_000
    assert (
        "This change affects <strong>1 client</strong> (Coastal Clinic)"
        in client.get("/panel/plans/starter").text
    )


NEW_CLIENT = {
    "name": "Coastal Clinic",
    "email": "billing@coastal.example",
    "country": "US",
    "plan": "starter",
    "monthly_spend": "$300",
    "alerts": "50, 80, 100",
}


def test_adding_a_client_forgives_dollars_and_percentages(app: App, client: TestClient) -> None:
    token = signed_in(client)
    assert 'href="/panel/sub-accounts/new"' in client.get("/panel/sub-accounts").text
    bad = {**NEW_CLIENT, "country": "usa", "monthly_spend": "$lots", "csrf_token": token}
    refused = client.post("/panel/sub-accounts/new", data=bad)
    assert refused.status_code == 422
    assert value_of(refused.text, "monthly_spend") == "$lots"
    assert value_of(refused.text, "name") == "Coastal Clinic"
    assert field_error(refused.text, "monthly_spend")
    with app.uow() as uow:
        assert uow.for_agency("acme").sub_accounts.get("coastal-clinic") is None
    made = client.post(
        "/panel/sub-accounts/new",
        data={**NEW_CLIENT, "csrf_token": token},
        follow_redirects=False,
    )
    assert made.status_code == 303
    assert made.headers["location"] == "/panel/sub-accounts/coastal-clinic?saved=client"
    with app.uow() as uow:
        sub = uow.for_agency("acme").sub_accounts.get("coastal-clinic")
    assert sub is not None and sub.caps.monthly_spend_micros == 300_000_000
    assert sub.caps.alerts == (Fraction(1, 2), Fraction(4, 5), Fraction(1))
    assert "Client added." in client.get("/panel/sub-accounts/coastal-clinic?saved=client").text


def test_a_panel_user_cannot_change_what_the_platform_owns(app: App, client: TestClient) -> None:
    token = signed_in(client)
    with app.uow() as uow:
        before = agency_entry(uow, "acme")
        audit_before = len(uow.for_agency("acme").audit.latest(1000))
    response = client.post(
        "/console/agencies/acme/credit-limit",
        data={"credit_limit": "1", "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 404
    extra = {"currency": "EUR", "credit_limit": "1", "tax": "none", "invoice_prefix": "X"}
    client.post("/panel/plans/new", data={**NEW_PLAN, **extra, "csrf_token": token})
    client.post("/panel/sub-accounts/new", data={**NEW_CLIENT, **extra, "csrf_token": token})
    with app.uow() as uow:
        after = agency_entry(uow, "acme")
        entries = uow.for_agency("acme").audit.latest(1000)
    assert after == before
    assert not any(
        e.field.split(".")[0] in ("currency", "credit_limit", "tax", "invoice_prefix")
        for e in entries[: len(entries) - audit_before]
    )


def test_the_clients_table_shows_profit_and_sorts_by_number(client: TestClient) -> None:
    signed_in(client)
    page = client.get("/panel/sub-accounts?sort=margin&order=desc").text
    assert 'aria-sort="descending"' in page
    rows = re.findall(r'<tr data-id="([^"]+)">(.*?)</tr>', page, re.S)
    assert len(rows) >= 3
    margins = [
        Decimal(
            re.findall(r'<td class="num[^"]*">([^<]*)</td>', row)[3]
            .split(" ")[0]
            .replace("$", "")
            .replace(",", "")
        )
        for _, row in rows
    ]
    assert margins == sorted(margins, reverse=True)
    assert "Wholesale cost" in page and "Spend / cap" in page
    exported = client.get("/panel/sub-accounts.csv?sort=margin&order=desc")
    assert exported.headers["content-type"].startswith("text/csv")
    lines = exported.text.strip().splitlines()
    assert lines[0].startswith("period,id,name,plan,state,minutes,revenue,cost,margin,spend")
    assert [line.split(",")[1] for line in lines[1:]] == [row_id for row_id, _ in rows]


def test_caps_read_dollars_and_percentages_and_refusals_keep_the_typed_values(
    app: App, client: TestClient
) -> None:
    token = signed_in(client)
    form = {"monthly_spend": "$300", "monthly_minutes": "1,000", "alerts": "50, 80, 100"}
    saved = client.post(
        "/panel/sub-accounts/harbor-realty/caps",
        data={**form, "enforcement": "notify", "csrf_token": token},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    with app.uow() as uow:
        caps = uow.for_agency("acme").sub_accounts.get("harbor-realty").caps  # type: ignore[union-attr]
    assert caps.monthly_spend_micros == 300_000_000 and caps.monthly_minutes == 1000
    assert caps.alerts == (Fraction(1, 2), Fraction(4, 5), Fraction(1))
    page = client.get("/panel/sub-accounts/harbor-realty").text
    assert value_of(page, "alerts") == "50%, 80%, 100%"
    refused = client.post(
        "/panel/sub-accounts/harbor-realty/caps",
        data={"monthly_spend": "three hundred", "alerts": "50, 180", "csrf_token": token},
    )
    assert refused.status_code == 422
    assert value_of(refused.text, "monthly_spend") == "three hundred"
    assert value_of(refused.text, "alerts") == "50, 180"
    assert field_error(refused.text, "monthly_spend")
    assert "outside" in field_error(refused.text, "alerts")
    with app.uow() as uow:
        after = uow.for_agency("acme").sub_accounts.get("harbor-realty").caps  # type: ignore[union-attr]
    assert after == caps


def test_negative_credits_are_explained_and_the_amount_kept(app: App, client: TestClient) -> None:
    token = signed_in(client)
    refused = client.post(
        "/panel/sub-accounts/harbor-realty/credits", data={"amount": "-5", "csrf_token": token}
    )
    assert refused.status_code == 422
    assert value_of(refused.text, "amount") == "-5"
    assert "must be more than 0" in field_error(refused.text, "amount")
    added = client.post(
        "/panel/sub-accounts/harbor-realty/credits",
        data={"amount": "$25.00", "csrf_token": token},
        follow_redirects=False,
    )
    assert added.status_code == 303


def test_the_alerts_page_lists_who_is_over_a_cap_and_every_alert(
    app: App, client: TestClient
) -> None:
    token = signed_in(client)
    client.post(
        "/panel/sub-accounts/harbor-realty/caps",
        data={"monthly_spend": "1", "alerts": "50, 80, 100", "csrf_token": token},
    )
    page = client.get("/panel/alerts").text
    over = re.findall(
        r'<tr class="over"><th scope="row"><a href="/panel/sub-accounts/([^"]+)"', page
    )
    assert "harbor-realty" in over
    over_now = {
        sub_id
        for row in page.split('<tr class="over">')[1:]
        if '<td class="date">2026-11<' in row.split("</tr>")[0]
        for sub_id in re.findall(r'href="/panel/sub-accounts/([^"]+)"', row.split("</tr>")[0])
    }
    assert "harbor-realty" in over_now
    assert f"Alerts ({len(over_now)} over a cap)" in page
    with app.uow() as uow:
        fired = len(uow.for_agency("acme").alerts.all())
    assert f"Alerts sent ({fired})" in page
    rows = page.split('id="fired"')[1].count("<time ")
    assert rows == min(fired, 50)
    if fired > 50:
        assert "Page 1 of" in page
        assert client.get("/panel/alerts?page=2").text.split('id="fired"')[1].count("<time ")


def test_invoices_sort_numbers_as_numbers_open_first_and_filter(client: TestClient) -> None:
    signed_in(client)
    page = client.get("/panel/invoices").text
    rows = re.findall(
        r'<tr><th scope="row" class="nowrap">([^<]+)</th>.*?<td>(open|paid|void|uncollectible)</td>',
        page,
        re.S,
    )
    assert rows
    statuses = [s for _, s in rows]
    assert statuses == sorted(statuses, key=lambda s: s != "open")  # open first
    assert "$" in page and " USD</td>" not in page
    only = client.get("/panel/invoices?client=harbor-realty&status=open").text
    shown = re.findall(r'<tr><th scope="row" class="nowrap">([^<]+)</th>', only)
    assert shown == ["ACME-000005"]


def test_numbers_read_for_people() -> None:
    from rebill.entrypoints.web.figures import money, quantity

    assert money("2388.00", "USD") == "$2,388.00"
    assert money("-5.00", "USD") == "-$5.00"
    assert quantity("2958.400") == "2,958.4"
    assert quantity("16800") == "16,800"
    assert money("not a number", "USD") == "not a number"


def test_invoice_numbers_compare_as_numbers() -> None:
    from rebill.services.views.invoice_list import arrange

    def doc(number: str, status: str, client: str = "a") -> dict[str, object]:
        return {
            "number": number,
            "status": status,
            "issued_at": "2026-11-01T00:00:00+00:00",
            "sub_account": client,
            "kind": "retail",
        }

    docs = [doc("ACME-000003", "paid"), doc("ACME-000020", "paid"), doc("ACME-000100", "open")]
    shown = [d["number"] for d in arrange(docs, None, None, None)]  # type: ignore[arg-type]
    assert shown == ["ACME-000100", "ACME-000020", "ACME-000003"]
    docs.append(doc("ACME-000004", "paid", "b"))
    only_b = arrange(docs, "b", None, None)  # type: ignore[arg-type]
    assert [d["number"] for d in only_b] == ["ACME-000004"]
