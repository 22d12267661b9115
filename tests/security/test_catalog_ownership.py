"""Catalog ownership (issue 10, item 1): an agency caller may not change what the platform
owns, leaving a field out keeps it, and every change is audited. Each refusal is checked
against a snapshot: nothing changed."""

from __future__ import annotations

from typing import Any

import pytest

from rebill.services.catalog.apply import apply_catalog
from rebill.services.catalog.document import agency_entry
from rebill.services.catalog.ownership import OPERATOR
from tests.e2e.api_fixtures import ACME_S1, NOW, World
from tests.security.conftest import snapshot


def post_catalog(world: World, who: str, document: Any) -> Any:
    return world.client.post("/v1/catalog", json=document, headers=world.headers(who))


def acme(**fields: Any) -> dict[str, Any]:
    return {"agencies": [{"id": "acme", **fields}]}


def stored_entry(world: World) -> dict[str, Any]:
    with world.rebill.uow() as uow:
        return agency_entry(uow, "acme")


ATTACKS = [
    (acme(credit_limit="1000000000000"), "agencies[0].credit_limit"),
    (acme(tax={"mode": "manual", "rate": "0.01"}), "agencies[0].tax.mode"),
    (acme(tax={"behavior": "inclusive"}), "agencies[0].tax.behavior"),
    (
        acme(wholesale={"voice": {"outbound": {"per_minute": "0"}}}),
        "agencies[0].wholesale.voice.outbound.per_minute",
    ),
    (
        acme(wholesale={"numbers": {"local": {"monthly": "0.01"}}}),
        "agencies[0].wholesale.numbers.local.monthly",
    ),
    (acme(wholesale={"agency_monthly_fee": "0"}), "agencies[0].wholesale.agency_monthly_fee"),
    (acme(invoice_prefix="PLAT"), "agencies[0].invoice_prefix"),
    (acme(invoice_prefix="NEWACME"), "agencies[0].invoice_prefix"),
    (acme(timezone="Pacific/Kiritimati"), "agencies[0].timezone"),
    (acme(currency="EUR"), "agencies[0].currency"),
    (acme(credit_limit=None, name="Acme"), None),  # no credit limit stored: null is the same
    (acme(brand={"domain": "portal.betax-telecom.com"}), "agencies[0].brand.domain"),
    (
        acme(brand={"display_name": "Acme", "domain": "console.platform.com"}),
        "agencies[0].brand.domain",
    ),
    ({"platform": {"name": "Mine", "currency": "USD", "wholesale": {}}}, "platform"),
    ({"platform": {"wholesale_from": "2099-01"}}, "platform"),  # a schedule: the platform's
]


@pytest.mark.parametrize("role", ["settings", "admin"])
@pytest.mark.parametrize(("document", "path"), ATTACKS)
def test_an_agency_key_cannot_set_a_platform_owned_field(
    world: World, role: str, document: dict[str, Any], path: str | None
) -> None:
    before = snapshot(world)
    answer = post_catalog(world, role, document)
    if path is None:
        assert answer.status_code == 200, answer.text
        return
    assert answer.status_code == 403, answer.text
    problem = answer.json()
    assert problem["code"] == "forbidden_field"
    assert problem["param"] == path
    assert snapshot(world) == before, "a refused catalog changed nothing"


def test_a_platform_field_deep_inside_a_valid_whole_file_is_still_refused(world: World) -> None:
    entry = stored_entry(world)
    entry["wholesale"] = {"voice": {"inbound": {"per_minute": "0.001", "increment": "1/1"}}}
    entry["plans"] = [{"id": "starter", "monthly_fee": "1.00"}]  # would pass on its own
    before = snapshot(world)
    answer = post_catalog(world, "admin", {"agencies": [entry]})
    assert answer.status_code == 403
    assert answer.json()["param"] == "agencies[0].wholesale.voice.inbound.per_minute"
    assert snapshot(world) == before, "the plan change in the same file was not applied either"


def test_the_stored_values_are_accepted_so_an_agency_can_reapply_its_file(world: World) -> None:
    apply_catalog(
        world.rebill.uow,
        acme(credit_limit="5000.00", tax={"mode": "manual", "rate": "20", "label": "VAT"}),
        "operator",
        NOW,
    )
    entry = stored_entry(world)
    entry["credit_limit"] = "5000"  # the same amount, written differently
    entry["tax"] = {"mode": "manual", "rate": "20.0"}
    entry["name"] = "Acme Voice AI (renamed)"
    answer = post_catalog(world, "settings", {"agencies": [entry]})
    assert answer.status_code == 200, answer.text
    after = stored_entry(world)
    assert after["name"] == "Acme Voice AI (renamed)"
    assert after["credit_limit"] == "5000.00"
    assert after["tax"]["label"] == "VAT", "a key left out keeps its stored value"


def test_leaving_platform_fields_out_keeps_them(world: World) -> None:
    """The README's catalog example has no credit limit and no tax: it must not wipe them."""
    apply_catalog(
        world.rebill.uow,
        acme(credit_limit="5000.00", tax={"mode": "manual", "rate": "20"}),
        "operator",
        NOW,
    )
    minimal = acme(
        name="Acme Voice AI",
        plans=[{"id": "starter", "name": "Starter", "monthly_fee": "55.00"}],
        sub_accounts=[{"id": ACME_S1, "name": "Bright Dental Group"}],
    )
    for who in ("settings", None):  # an agency key, then the operator's CLI path
        if who:
            answer = post_catalog(world, who, minimal)
            assert answer.status_code == 200, answer.text
        else:
            apply_catalog(world.rebill.uow, minimal, "catalog.yaml", NOW)
        entry = stored_entry(world)
        assert entry["credit_limit"] == "5000.00"
        assert entry["tax"]["mode"] == "manual" and entry["tax"]["rate"] == "20"
    with world.rebill.uow() as uow:
        tenant = uow.for_agency("acme")
        plan = tenant.plans.all()["starter"]
        sub = tenant.sub_accounts.get(ACME_S1)
    assert plan.monthly_fee_micros == 55_000_000
    assert plan.included_minutes == 200, "the plan's other fields were kept"
    assert sub is not None and sub.email == "billing@bright-dental.example"


def test_the_operator_may_change_platform_fields_and_every_change_is_audited(
    world: World,
) -> None:
    apply_catalog(world.rebill.uow, acme(credit_limit="2500.00"), "catalog.yaml", NOW, OPERATOR)
    answer = post_catalog(world, "platform", acme(tax={"mode": "manual", "rate": "7"}))
    assert answer.status_code == 200, answer.text
    post_catalog(world, "admin", acme(name="Acme Renamed"))
    with world.rebill.uow() as uow:
        entries = uow.for_agency("acme").audit.latest(50)
    seen = {(e.field, e.old_value, e.new_value) for e in entries}
    assert ("credit_limit", "none", "2500.00") in seen
    assert ("tax.mode", "none", "manual") in seen
    assert ("name", "Acme Voice AI", "Acme Renamed") in seen
    actors = {e.actor for e in entries}
    assert OPERATOR.actor in actors
    assert any(a.startswith("key ") and "(platform)" in a for a in actors)
    assert any(a.startswith("key ") and "(admin)" in a for a in actors)


def test_an_agency_key_cannot_apply_another_agency(world: World) -> None:
    before = snapshot(world)
    answer = post_catalog(world, "admin", {"agencies": [{"id": "beta", "name": "Mine now"}]})
    assert answer.status_code == 404
    answer = post_catalog(
        world, "admin", {"agencies": [{"id": "zeta", "name": "New", "invoice_prefix": "ZETA"}]}
    )
    assert answer.status_code == 404
    assert snapshot(world) == before


def test_a_sub_account_key_and_a_billing_key_cannot_apply_a_catalog(world: World) -> None:
    before = snapshot(world)
    for who in ("sub", "billing"):
        answer = post_catalog(world, who, acme(name="Hijacked"))
        assert answer.status_code == 403, answer.text
    assert snapshot(world) == before


def test_a_scheduled_plan_change_is_the_agencys_and_needs_a_settings_key(world: World) -> None:
    """`takes_effect` (plan versions) rides on a plan change: the agency's own plans only, with
    a key that may change settings. A sub-account or billing key, or another agency's admin,
    is refused, and no plan, version or subscription changes."""
    change = {"id": "starter", "monthly_fee": "59.00", "takes_effect": "next_period"}
    before = snapshot(world)
    for who in ("sub", "billing"):
        answer = post_catalog(world, who, acme(plans=[change]))
        assert answer.status_code == 403, (who, answer.text)
    answer = post_catalog(world, "beta_admin", {"agencies": [{"id": "acme", "plans": [change]}]})
    assert answer.status_code == 404, answer.text
    assert snapshot(world) == before
    allowed = post_catalog(world, "settings", acme(plans=[change]))
    assert allowed.status_code == 200, allowed.text
    assert snapshot(world) != before
