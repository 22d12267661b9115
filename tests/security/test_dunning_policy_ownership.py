"""Who owns the dunning policy (issue 14): an agency sets its own (for its clients) and it is
kept when left out and audited; the platform's (its wholesale invoices, and the default) is
the platform's alone: an agency caller is refused and nothing changes."""

from __future__ import annotations

from typing import Any

from rebill.domain.dunning import DunningPolicy
from tests.e2e.api_fixtures import World
from tests.security.conftest import snapshot


def post_catalog(world: World, who: str, document: Any) -> Any:
    return world.client.post("/v1/catalog", json=document, headers=world.headers(who))


def policies(world: World) -> tuple[DunningPolicy | None, DunningPolicy | None]:
    with world.rebill.uow() as uow:
        return (
            uow.for_agency("acme").payments.dunning_policy(),
            uow.platform.gateway.dunning_policy(),
        )


def test_an_agency_sets_its_own_dunning_policy_and_it_is_kept_and_audited(world: World) -> None:
    policy = {"retry_days": [2, 4], "grace_days": 10}
    answer = post_catalog(world, "settings", {"agencies": [{"id": "acme", "dunning": policy}]})
    assert answer.status_code == 200, answer.text
    assert policies(world) == (DunningPolicy((2, 4), 10), None)
    # Left out: kept.
    answer = post_catalog(world, "settings", {"agencies": [{"id": "acme", "name": "Acme"}]})
    assert answer.status_code == 200, answer.text
    assert policies(world)[0] == DunningPolicy((2, 4), 10)
    with world.rebill.uow() as uow:
        trail = [(e.field, e.new_value) for e in uow.for_agency("acme").audit.latest(50)]
    assert any(field.startswith("dunning") for field, _ in trail), trail


def test_an_agency_cannot_set_the_platforms_dunning_policy(world: World) -> None:
    before = snapshot(world)
    document = {
        "platform": {
            "name": "Mine",
            "currency": "USD",
            "wholesale": {},
            "dunning": {"retry_days": [], "grace_days": 90},
        }
    }
    for role in ("settings", "admin"):
        answer = post_catalog(world, role, document)
        assert answer.status_code == 403, answer.text
        assert answer.json()["code"] == "forbidden_field"
    assert snapshot(world) == before
    assert policies(world)[1] is None


def test_a_policy_out_of_bounds_is_a_problem_with_its_path(world: World) -> None:
    before = snapshot(world)
    bad = {"agencies": [{"id": "acme", "dunning": {"retry_days": [5, 5], "grace_days": 7}}]}
    answer = post_catalog(world, "settings", bad)
    assert answer.status_code == 422, answer.text
    assert "agencies[0].dunning" in answer.text
    assert snapshot(world) == before
