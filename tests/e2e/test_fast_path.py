"""The fast path for authorize and record (issue 13, `entrypoints/api/fast.py`) answers exactly
what the documented routes answer: the same request, sent with the fast path and with it
switched off, gets the same status, problem and body; a request it does not take (an
Idempotency-Key, `?agency=`, a body the model refuses) still gets the routes' answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rebill.entrypoints.api import fast
from rebill.entrypoints.api.routes import calls as calls_route
from tests.e2e.api_fixtures import ACME_S1, BETA_SUB, World, world_for


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    yield from world_for(db_url, close=False)


AUTHORIZE = "/v1/calls/authorize"


def _call(call_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "sub_account": ACME_S1,
        "direction": "outbound",
        "started_at": "2026-12-10T10:00:00Z",
        "duration_seconds": 61,
    } | changes


# (who, path, body): each is sent twice, once through each way in.
CASES: list[tuple[str, str, Any]] = [
    ("admin", AUTHORIZE, {"sub_account": ACME_S1, "direction": "outbound"}),
    ("admin", AUTHORIZE, {"sub_account": ACME_S1, "direction": "inbound", "campaign_id": "c1"}),
    ("admin", AUTHORIZE, {"sub_account": "nobody", "direction": "outbound"}),  # 404
    ("admin", AUTHORIZE, {"sub_account": BETA_SUB, "direction": "outbound"}),  # another agency's
    ("sub", AUTHORIZE, {"sub_account": "harbor-realty", "direction": "outbound"}),  # not its own
    ("settings", AUTHORIZE, {"sub_account": ACME_S1, "direction": "outbound"}),  # role: 403
    ("admin", AUTHORIZE, {"sub_account": ACME_S1, "direction": "sideways"}),  # 422 (model)
    ("admin", AUTHORIZE, {"sub_account": ACME_S1}),  # 422: a field is missing
    ("admin", "/v1/calls", {"calls": [_call("fp-1"), _call("fp-2", duration_seconds=-1)]}),
    ("admin", "/v1/calls", {"calls": [_call("fp-1")]}),  # now a duplicate
    ("admin", "/v1/calls", {"calls": [_call("fp-1", duration_seconds=99)]}),  # a conflict
    ("settings", "/v1/calls", {"calls": [_call("fp-3")]}),  # role: 403
    ("admin", "/v1/calls", {"calls": "not a list"}),  # 422
]


def _answer(world: World, who: str, path: str, body: Any, suffix: str) -> tuple[int, Any]:
    if path == "/v1/calls":  # fresh call ids per way in; the answers name them back
        body = {
            "calls": [
                c | {"call_id": f"{c['call_id']}{suffix}"} if isinstance(c, dict) else c
                for c in body["calls"]
            ]
            if isinstance(body["calls"], list)
            else body["calls"]
        }
    answer = world.client.post(path, json=body, headers=world.headers(who))
    document = answer.json()
    if isinstance(document, dict) and "results" in document:
        for result in document["results"]:
            result["call_id"] = str(result["call_id"]).removesuffix(suffix)
            if result["error"]:
                result["error"]["message"] = result["error"]["message"].replace(suffix, "")
    return answer.status_code, document


def test_the_fast_path_answers_what_the_routes_answer(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[str] = []
    answer = fast.FastCalls.__call__

    async def watched(self: fast.FastCalls, scope: Any, body: bytes, send: Any) -> bool:
        took = await answer(self, scope, body, send)
        if took:
            taken.append(scope["path"])
        return took

    monkeypatch.setattr(fast.FastCalls, "__call__", watched)
    quick = [_answer(world, who, path, body, "-fast") for who, path, body in CASES]
    assert len(taken) == 11  # the bodies the models refuse (a missing field, not a list) are not
    monkeypatch.setattr(fast, "HANDLERS", {})
    taken.clear()
    documented = [_answer(world, who, path, body, "-route") for who, path, body in CASES]
    assert taken == []
    assert quick == documented
    statuses = [status for status, _ in quick]
    assert statuses == [200, 200, 404, 404, 404, 403, 422, 422, 200, 200, 200, 403, 422]


def test_requests_the_fast_path_leaves_get_the_routes_answers(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    work = calls_route.authorize_work

    def counted(*args: Any) -> Any:
        seen.append("work")
        return work(*args)

    monkeypatch.setattr(calls_route, "authorize_work", counted)
    body = {"sub_account": ACME_S1, "direction": "outbound"}
    keyed = world.headers("admin", **{"Idempotency-Key": "fp-key"})
    first = world.client.post(AUTHORIZE, json=body, headers=keyed)
    again = world.client.post(AUTHORIZE, json=body, headers=keyed)
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    platform = world.client.post(
        AUTHORIZE, params={"agency": "acme"}, json=body, headers=world.headers("platform")
    )
    assert platform.status_code == 200
    assert platform.json()["allowed"] is True
    assert seen == ["work", "work"]  # through the route: the replay ran nothing


def test_the_server_builds_its_adapters_at_start_up_not_in_the_first_request(db_url: str) -> None:
    """`rebill serve` warms each worker in its lifespan (`App.warm`): the unit of work (the ORM,
    its mappers, the repositories) and the clock exist before the first request comes."""
    from fastapi.testclient import TestClient
    from sqlalchemy.orm import Mapper

    from rebill.adapters.db.rows import CallRow
    from rebill.bootstrap import build
    from rebill.config import Settings
    from rebill.entrypoints.api.app import create_app

    app = build(Settings.from_env(db_url))
    api = create_app(app)
    assert "uow" not in vars(app) and "clock" not in vars(app)
    with TestClient(api):
        assert "uow" in vars(app) and "clock" in vars(app)
        mapper = CallRow.__mapper__
        assert isinstance(mapper, Mapper) and mapper.configured
