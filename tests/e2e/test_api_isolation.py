"""The tenant-isolation matrix, generated from the app's routes: every /v1 route × every role
of agency `acme` (admin, billing, settings keys; a sub-account key of `bright-dental`) × every
way of addressing an object owned by another tenant (beta's sub-accounts, plan, invoices,
webhook deliveries, `?agency=beta`; for the sub-account key also its sibling sub-account and
that sibling's invoices). Every answer is 404 or 403 (422 only where the request does not
validate), and no answer carries the other tenant's names, e-mails, numbers or ids beyond what
the request itself sent.

Platform keys with `?agency=beta` are legitimately allowed to act on beta, so they are not in
the matrix."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from tests.e2e.api_fixtures import (
    ACME_S2,
    BETA_DOMAIN,
    BETA_OTHER_SUB,
    BETA_PLAN,
    BETA_SUB,
    CLOSED,
    World,
    world_on,
)

ROLES = ("admin", "billing", "settings", "sub")
OTHER_AGENCY = "beta"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    yield from world_on(request.param, tmp_path_factory.mktemp("isolation"))


def _routes() -> list[tuple[str, str, APIRoute]]:
    """(method, path, route) of every /v1 route of an app built on a throwaway database."""
    import tempfile

    from rebill.bootstrap import build
    from rebill.config import Settings
    from rebill.entrypoints.api.app import create_app

    with tempfile.TemporaryDirectory() as folder:
        rebill = build(Settings(database_url=f"sqlite:///{Path(folder) / 'routes.db'}"))
        try:
            app = create_app(rebill)
        finally:
            rebill.dispose()
    found = []
    for context in iter_route_contexts(app.routes):  # through the included routers
        route, path = context.original_route, context.path or ""
        if isinstance(route, APIRoute) and path.startswith("/v1/"):
            for method in sorted(route.methods - {"HEAD"}):
                found.append((method, path, route))
    return found


ROUTES = _routes()


def _query_params(route: APIRoute) -> list[Any]:
    """The route's query parameters, with those of its dependencies (the tenant's `agency`)."""
    found: list[Any] = []
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        found.extend(dependant.query_params)
        pending.extend(dependant.dependencies)
    return found


def _query_names(route: APIRoute) -> set[str]:
    return {p.alias for p in _query_params(route)}


# Valid values for required query parameters, so that a request passes validation.
REQUIRED_QUERY = {"period": CLOSED}


def _required_query(route: APIRoute) -> dict[str, str]:
    names = [p.alias for p in _query_params(route) if p.field_info.is_required()]
    for name in names:
        if name not in REQUIRED_QUERY:
            raise AssertionError(f"no valid value for the required query parameter {name!r}")
    return {name: REQUIRED_QUERY[name] for name in names}


def _path_names(route: APIRoute) -> list[str]:
    return [p.alias for p in route.dependant.path_params]


def other_objects(world: World, role: str) -> dict[str, list[str]]:
    """For each path parameter name, objects the role must not reach."""
    beta_numbers = [n for n in world.beta_invoices if n.startswith(("BETAX-0", "BETAX-R", "PLAT"))]
    objects = {
        "sub_id": [BETA_SUB, BETA_OTHER_SUB],
        "plan_id": [BETA_PLAN],
        "agency_id": [OTHER_AGENCY],
        "number": beta_numbers,
        "delivery_id": world.beta_deliveries[:1],
        "endpoint_id": world.beta_endpoints[:1],
        "period": [CLOSED],  # a period is the agency's: addressed with ?agency=beta
        "domain": [BETA_DOMAIN],
    }
    if role == "sub":
        objects["sub_id"] = [ACME_S2, BETA_SUB]
        objects["number"] = [*sibling_invoices(world), *beta_numbers[:1]]
    return objects


def sibling_invoices(world: World) -> list[str]:
    listed = world.client.get(
        "/v1/invoices", params={"limit": 100}, headers=world.headers("admin")
    ).json()["data"]
    return [d["number"] for d in listed if d["sub_account"] == ACME_S2]


def body_for(method: str, path: str, sub: str) -> Any:
    """A minimal body that validates, so the request reaches the tenant check. `sub` is the
    other tenant's sub-account where the body names one."""
    if method != "POST":
        return None
    bodies: dict[str, Any] = {
        "/v1/sub_accounts/{sub_id}/caps": {"monthly_spend": "10.00"},
        "/v1/sub_accounts/{sub_id}/auto_top_up": {"threshold": "5.00", "amount": "20.00"},
        "/v1/sub_accounts/{sub_id}/tax_identity": {"country": "FR", "tax_id": "FR40303265045"},
        "/v1/sub_accounts/{sub_id}/state": {"state": "suspended", "reason": "isolation"},
        "/v1/sub_accounts/{sub_id}/credits": {"amount": "5.00"},
        "/v1/calls": {
            "calls": [
                {
                    "call_id": f"isolation-{sub}",
                    "sub_account": sub,
                    "started_at": "2026-12-03T15:00:00Z",
                    "duration_seconds": 30,
                    "direction": "outbound",
                }
            ]
        },
        "/v1/calls/authorize": {"sub_account": sub, "direction": "outbound"},
        "/v1/periods/{period}/close": None,
        "/v1/catalog": {
            "agencies": [{"id": OTHER_AGENCY, "name": "Taken Over", "invoice_prefix": "TAKEN"}]
        },
        "/v1/webhook_endpoints": {"url": "http://127.0.0.1:9/stolen", "events": []},
        "/v1/webhook_deliveries/{delivery_id}/replay": None,
        "/v1/domains": {"domain": "portal.isolation-probe.com"},
        "/v1/domains/{domain}/verify": None,
        "/v1/domains/{domain}/approve": None,
        "/v1/invoices/{number}/charge": None,
        "/v1/invoices/{number}/refund": {"amount": "1.00"},
    }
    if path not in bodies:
        raise AssertionError(f"the isolation matrix has no body for POST {path}: add one")
    return bodies[path]


# Routes whose only tenant input is the body (it names another tenant's sub-account or agency).
BODY_ADDRESSED = {("POST", "/v1/calls"), ("POST", "/v1/calls/authorize"), ("POST", "/v1/catalog")}


@dataclass(frozen=True)
class Probe:
    method: str
    path: str  # filled in
    query: dict[str, str]
    body: Any
    template: str

    def sent(self) -> str:
        return f"{self.path} {json.dumps(self.query)} {json.dumps(self.body)}"


def probes(world: World, role: str, method: str, template: str, route: APIRoute) -> list[Probe]:
    objects = other_objects(world, role)
    names = _path_names(route)
    for name in names:
        if not objects.get(name):
            raise AssertionError(f"no other-tenant object for path parameter {name!r}: add one")
    takes_agency = "agency" in _query_names(route)
    base = _required_query(route)
    beta_query = {**base, "agency": OTHER_AGENCY}
    other_sub = ACME_S2 if role == "sub" else BETA_SUB
    found: list[Probe] = []
    if names:
        # every combination is overkill; one parameter varies at a time over its objects
        for name in names:
            for value in objects[name]:
                path = template
                for other in names:
                    path = path.replace(
                        f"{{{other}}}", value if other == name else objects[other][0]
                    )
                sub = value if name == "sub_id" else other_sub
                body = body_for(method, template, sub)
                if name != "period":  # a period alone is not another tenant's object
                    found.append(Probe(method, path, base, body, template))
                if takes_agency:
                    found.append(Probe(method, path, beta_query, body, template))
    else:
        if (method, template) in BODY_ADDRESSED:
            for sub in dict.fromkeys([other_sub, BETA_SUB]):
                body = body_for(method, template, sub)
                found.append(Probe(method, template, base, body, template))
        if takes_agency:
            body = body_for(method, template, BETA_SUB)
            found.append(Probe(method, template, beta_query, body, template))
    return found


def secrets_of_others(world: World, role: str) -> list[str]:
    secrets = world.beta_secrets()
    if role == "sub":
        secrets += [ACME_S2, "Harbor Realty", "billing@harbor-realty.example"]
        secrets += sibling_invoices(world)
    return secrets


CASES = [
    pytest.param(role, method, path, route, id=f"{role}-{method}-{path}")
    for method, path, route in ROUTES
    for role in ROLES
]


def test_the_matrix_covers_every_route() -> None:
    templates = {path for _, path, _ in ROUTES}
    for expected in (
        "/v1/sub_accounts/{sub_id}",
        "/v1/invoices/{number}",
        "/v1/plans/{plan_id}",
        "/v1/agencies/{agency_id}",
        "/v1/calls",
        "/v1/catalog",
    ):
        assert expected in templates
    assert len(CASES) == len(ROUTES) * len(ROLES)


@pytest.mark.parametrize(("role", "method", "template", "route"), CASES)
def test_another_tenants_object_answers_404_or_403_and_leaks_nothing(
    world: World, role: str, method: str, template: str, route: APIRoute
) -> None:
    headers = world.headers(role)
    secrets = secrets_of_others(world, role)
    cases = probes(world, role, method, template, route)
    if not cases:
        # No way to address another tenant here (GET /v1/agencies lists the caller's
        # own): the answer may be a success, but it must carry nothing of another tenant.
        answer = world.client.request(
            method, template, params=_required_query(route), headers=headers
        )
        assert answer.status_code < 500, answer.text
        leaked = [s for s in secrets if s in answer.text]
        assert not leaked, f"{method} {template} as {role} leaked {leaked}: {answer.text[:500]}"
        return
    for probe in cases:
        answer = world.client.request(
            method, probe.path, params=probe.query, json=probe.body, headers=headers
        )
        where = f"{method} {probe.path} {probe.query} as {role}"
        if (method, template) == ("POST", "/v1/calls") and answer.status_code == 200:
            # The batch answers per record: another tenant's sub-account is an unknown one.
            (result,) = answer.json()["results"]
            assert result["status"] == "rejected", f"{where}: {answer.text}"
            assert result["error"]["param"] == "sub_account", f"{where}: {answer.text}"
        else:
            # Every request here validates, so 422 would mean the tenant check came too late.
            assert answer.status_code in (403, 404), f"{where}: {answer.status_code} {answer.text}"
            assert answer.headers["content-type"].startswith("application/problem+json")
        sent = probe.sent()
        leaked = [s for s in secrets if s in answer.text and s not in sent]
        assert not leaked, f"{where} leaked {leaked}: {answer.text[:500]}"
