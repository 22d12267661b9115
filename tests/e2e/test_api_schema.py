"""schemathesis against the API's own OpenAPI document, with a valid agency admin key: no
answer is a 5xx, and every answer (status, content type, headers, body) matches the schema.

The world (two agencies, a closed month, keys) is built once when this module is collected,
on SQLite in a temporary folder. Path and query parameters are drawn both from what
schemathesis generates and from the world's real ids, so 200 answers are checked as well as
404s and 422s. Bounded: a few dozen examples per operation."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.api_fixtures import (
    ACME_S1,
    ACME_S2,
    BETA_PLAN,
    BETA_SUB,
    CLOSED,
    OPEN,
    make_world,
)

_folder = Path(tempfile.mkdtemp(prefix="rebill-schemathesis-"))
atexit.register(shutil.rmtree, _folder, True)
WORLD = make_world(f"sqlite:///{_folder / 'schema.db'}")
atexit.register(WORLD.rebill.dispose)

schema = schemathesis.openapi.from_asgi("/openapi.json", WORLD.app)

REAL_PATH_VALUES: dict[str, list[str]] = {
    "sub_id": [ACME_S1, ACME_S2, BETA_SUB],
    "plan_id": ["starter", "growth", BETA_PLAN],
    "agency_id": ["acme", "beta"],
    "number": [WORLD.s1_invoice, WORLD.s2_invoice, *WORLD.beta_invoices[:1]],
    "period": [CLOSED, OPEN, "2026-10"],
}
REAL_QUERY_VALUES: dict[str, list[Any]] = {
    "agency": [None, "acme"],  # None: left out (an agency key acts on its own agency)
    "period": [CLOSED, OPEN],
    "starting_after": [None, ACME_S1],
    "format": ["json", "csv"],
}


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    if not path_parameters:
        return st.just(path_parameters)
    return st.fixed_dictionaries(
        {
            name: st.sampled_from([value, *REAL_PATH_VALUES.get(name, [])])
            for name, value in path_parameters.items()
        }
    )


@schema.hook
def flatmap_query(context: Any, query: dict[str, Any] | None) -> Any:
    if not isinstance(query, dict):
        return st.just(query)

    def pick(name: str, value: Any) -> Any:
        return st.sampled_from([value, *REAL_QUERY_VALUES.get(name, [])])

    return st.fixed_dictionaries({name: pick(name, value) for name, value in query.items()}).map(
        lambda chosen: {k: v for k, v in chosen.items() if v is not None}
    )


GATEWAY_PATHS = {"/v1/invoices/{number}/charge", "/v1/invoices/{number}/refund"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def test_openapi_document_is_served() -> None:
    answer = WORLD.client.get("/openapi.json")
    assert answer.status_code == 200
    document = answer.json()
    assert document["openapi"].startswith("3.1")
    assert any(path.startswith("/v1/") for path in document["paths"])


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
def test_api_conforms_to_its_openapi(case: schemathesis.Case) -> None:
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    headers["Authorization"] = f"Bearer {WORLD.keys['admin']}"
    case.headers = headers
    if case.path not in GATEWAY_PATHS:
        case.call_and_validate(checks=CHECKS)
        return
    # This world has no Stripe key: the payment routes answer their documented 503.
    response = case.call()
    case.validate_response(response, checks=[c for c in CHECKS if c is not not_a_server_error])
    if response.status_code >= 500:
        assert response.status_code == 503, response.text
        assert "REBILL_STRIPE_SECRET_KEY" in response.json()["detail"]


def _documented_statuses(method: str, path: str) -> set[int]:
    operation = WORLD.client.get("/openapi.json").json()["paths"][path][method]
    return {int(code) for code in operation["responses"] if code.isdigit()}


@pytest.mark.parametrize("period", ["0000-00", "2026-13", "1969-12"])
def test_invoices_with_an_impossible_month_is_a_422(period: str) -> None:
    answer = WORLD.client.get(
        "/v1/invoices", params={"period": period}, headers=WORLD.headers("admin")
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["param"] == "period"


@pytest.mark.parametrize(
    "path",
    ["/v1/calls", "/v1/calls/authorize", f"/v1/sub_accounts/{ACME_S1}/credits"],
)
def test_an_undecodable_body_gets_a_documented_answer(path: str) -> None:
    template = path.replace(ACME_S1, "{sub_id}")
    answer = WORLD.client.post(
        path,
        content=b'{"calls": "\xc3\x28"}',
        headers=WORLD.headers("admin", **{"Content-Type": "application/json"}),
    )
    assert answer.status_code < 500, answer.text
    assert answer.status_code in _documented_statuses("post", template), answer.text


def test_two_state_changes_at_one_instant() -> None:
    sub = "acme-extra-05"  # not among the ids the fuzzing draws from
    path = f"/v1/sub_accounts/{sub}/state"
    first = WORLD.client.post(path, json={"state": "suspended"}, headers=WORLD.headers("admin"))
    second = WORLD.client.post(path, json={"state": "active"}, headers=WORLD.headers("admin"))
    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    assert second.json() == {"id": sub, "from_state": "suspended", "to_state": "active"}


@pytest.fixture(autouse=True)
def _no_env_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REBILL_DATABASE_URL", raising=False)
