"""The fast path for authorize and record (issue 13, `entrypoints/api/fast.py`) answers exactly
what the documented routes answer: the same request, sent with the fast path and with it
switched off, gets the same status, problem and body; a request it does not take (an
Idempotency-Key, `?agency=`, a body the model refuses) still gets the routes' answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from rebill.entrypoints.api import fast
from rebill.entrypoints.api.routes import calls as calls_route
from tests.e2e.api_fixtures import ACME_S1, BETA_SUB, NOW, World, world_for


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
    # JSON that Python's parser takes and pydantic's may not: each is that record's rejection
    # (a lone surrogate through the route: pydantic's parser refuses it)
    ("admin", "/v1/calls", {"calls": [_call("fp-4", duration_seconds=float("nan"))]}),
    ("admin", "/v1/calls", {"calls": [_call("fp-5", duration_seconds=10**30)]}),
    ("admin", "/v1/calls", {"calls": [_call("fp-6", campaign_id="a\ud800b")]}),
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
    headers = world.headers(who) | {"content-type": "application/json"}
    answer = world.client.post(path, content=json.dumps(body), headers=headers)  # NaN as sent
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

    async def watched(self: fast.FastCalls, scope: Any, body: bytes, send: Any, *key: Any) -> bool:
        took = await answer(self, scope, body, send, *key)
        if took:
            taken.append(scope["path"])
        return took

    monkeypatch.setattr(fast.FastCalls, "__call__", watched)
    quick = [_answer(world, who, path, body, "-fast") for who, path, body in CASES]
    assert len(taken) == 13  # the bodies the models refuse (a missing field, not a list) and a
    # lone surrogate (pydantic's JSON parser refuses it) are not
    monkeypatch.setattr(fast, "HANDLERS", {})
    taken.clear()
    documented = [_answer(world, who, path, body, "-route") for who, path, body in CASES]
    assert taken == []
    assert quick == documented
    statuses = [status for status, _ in quick]
    assert statuses == [200, 200, 404, 404, 404, 403, 422, 422, 200, 200, 200, 403, 422] + [200] * 3
    assert quick[-1][1]["results"][0]["error"]["param"] == "campaign_id"  # that record, named


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


def _stored(world: World, call_id: str) -> bool:
    from sqlalchemy import text

    with world.rebill.engine.connect() as connection:
        found = connection.execute(
            text("SELECT count(*) FROM calls WHERE call_id = :id"), {"id": call_id}
        )
        return bool(found.scalar())


def test_a_small_request_checks_its_key_in_the_same_thread_trip_as_its_work(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An authorization or a single call takes one trip to a worker thread (key and work
    together); a request the fast path leaves takes the key's trip, then the route's."""
    from rebill.entrypoints.api import guard

    trips: list[str] = []

    def counting(module: Any, name: str) -> None:
        hop = module.run_in_threadpool

        async def counted(function: Any, *args: Any) -> Any:
            trips.append(name)
            return await hop(function, *args)

        monkeypatch.setattr(module, "run_in_threadpool", counted)

    counting(guard, "guard")
    counting(fast, "fast")
    body = {"sub_account": ACME_S1, "direction": "outbound"}
    answer = world.client.post(AUTHORIZE, json=body, headers=world.headers("admin"))
    assert answer.status_code == 200 and answer.json()["allowed"] is True
    assert trips == ["fast"]
    trips.clear()
    one = world.client.post(
        "/v1/calls", json={"calls": [_call("trip-1")]}, headers=world.headers("admin")
    )
    assert one.status_code == 200 and one.json()["results"][0]["status"] == "accepted"
    assert trips == ["fast"]
    trips.clear()
    refused = world.client.post(
        AUTHORIZE, json={"sub_account": ACME_S1}, headers=world.headers("admin")
    )
    assert refused.status_code == 422  # the model refuses it: the guard checks the key first
    assert trips == ["guard"]


@pytest.mark.parametrize("key", ["rbk_key_0000000000000000_nope", "revoked"])
def test_a_bad_key_on_the_fast_path_is_401_and_changes_nothing(world: World, key: str) -> None:
    if key == "revoked":
        from rebill.services.access.keys import revoke_key

        key, key_id = world.new_key("agency", "acme", role="admin")
        revoke_key(world.rebill.uow, key_id, NOW)
    headers = {"Authorization": f"Bearer {key}"}
    recorded = world.client.post("/v1/calls", json={"calls": [_call("bad-key-1")]}, headers=headers)
    assert recorded.status_code == 401
    assert recorded.json()["code"] == "unauthorized"
    assert recorded.headers["www-authenticate"] == "Bearer"
    assert "unknown or revoked" in recorded.json()["detail"]
    slot = {"sub_account": ACME_S1, "direction": "outbound", "call_id": "bad-key-slot"}
    assert world.client.post(AUTHORIZE, json=slot, headers=headers).status_code == 401
    assert not _stored(world, "bad-key-1")
    good = world.client.post(
        "/v1/calls", json={"calls": [_call("bad-key-1")]}, headers=world.headers("admin")
    )
    assert good.json()["results"][0]["status"] == "accepted"  # the id was never taken


def test_a_large_body_with_a_bad_key_is_refused_before_it_is_read(world: World) -> None:
    """Only a fast-path body of at most `early_body_bytes_max` is read before its key is
    checked; a larger one is refused with 401 before a byte of it is read."""
    import asyncio

    from rebill.entrypoints.api.guard import early_body_bytes_max

    def ask(size: int) -> tuple[int, int]:
        reads = 0
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            nonlocal reads
            reads += 1
            return {"type": "http.request", "body": b" " * size, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/v1/calls",
            "raw_path": b"/v1/calls",
            "query_string": b"",
            "headers": [
                (b"authorization", b"Bearer rbk_key_0000000000000000_nope"),
                (b"content-type", b"application/json"),
                (b"content-length", str(size).encode()),
            ],
            "http_version": "1.1",
            "scheme": "http",
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 1),
            "root_path": "",
            "state": {},
        }
        asyncio.run(world.app(scope, receive, send))
        return sent[0]["status"], reads

    assert ask(early_body_bytes_max + 1) == (401, 0)
    assert ask(200) == (401, 1)


def test_concurrent_single_calls_of_one_key_are_written_together(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: requests of one key that arrive while its previous group is being written
    are written in one transaction, each answered as if alone (its own `calls[i]`)."""
    import threading
    import time

    from fastapi.testclient import TestClient

    groups: list[int] = []
    ingest = calls_route.ingest_calls

    def slow(*args: Any) -> Any:
        groups.append(len(args[2]))
        if len(groups) == 1:
            time.sleep(0.5)  # the first group is slow: the others gather behind it
        return ingest(*args)

    monkeypatch.setattr(calls_route, "ingest_calls", slow)
    bodies = [{"calls": [_call(f"group-{n}")]} for n in range(6)]
    bodies[3]["calls"].insert(0, _call("group-bad", duration_seconds=-5))
    answers: list[Any] = [None] * len(bodies)
    with TestClient(world.app) as client:  # one event loop for every thread's request

        def post(n: int) -> None:
            answers[n] = client.post("/v1/calls", json=bodies[n], headers=world.headers("admin"))

        first = threading.Thread(target=post, args=(0,))
        first.start()
        time.sleep(0.2)
        rest = [threading.Thread(target=post, args=(n,)) for n in range(1, 6)]
        for thread in rest:
            thread.start()
        for thread in [first, *rest]:
            thread.join()
    assert groups[0] == 1 and sum(groups) == 7 and len(groups) < 6, groups
    for n, answer in enumerate(answers):
        assert answer.status_code == 200
        results = answer.json()["results"]
        assert results[-1] == {"call_id": f"group-{n}", "status": "accepted", "error": None}
        assert _stored(world, f"group-{n}")
    bad = answers[3].json()["results"][0]
    assert bad["status"] == "rejected" and bad["error"]["message"].startswith("calls[0]")
    assert not _stored(world, "group-bad")


def test_a_bad_key_in_a_group_is_401_for_its_requests_only(world: World) -> None:
    import threading

    from fastapi.testclient import TestClient

    answers: dict[str, Any] = {}
    with TestClient(world.app) as client:

        def post(key: str, call_id: str) -> None:
            answers[call_id] = client.post(
                "/v1/calls",
                json={"calls": [_call(call_id)]},
                headers={"Authorization": f"Bearer {key}"},
            )

        threads = [
            threading.Thread(target=post, args=(key, f"mixed-{n}-{name}"))
            for n in range(3)
            for name, key in (("good", world.keys["admin"]), ("bad", "rbk_key_00_nope"))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for call_id, answer in answers.items():
        if call_id.endswith("good"):
            assert answer.status_code == 200, answer.text
            assert _stored(world, call_id)
        else:
            assert answer.status_code == 401
            assert not _stored(world, call_id)


def test_a_group_holds_waiting_requests_up_to_its_record_limit() -> None:
    from rebill.entrypoints.api import schemas

    def waiting(*sizes: int) -> list[Any]:
        return [
            fast._Waiting(schemas.CallsIn.model_construct(calls=[None] * n), None) for n in sizes
        ]  # type: ignore[arg-type]

    def sizes(group: list[Any]) -> list[int]:
        return [len(w.body.calls) for w in group]

    assert fast.group_records_max == 1000
    assert sizes(fast._first_records(waiting(600, 300, 200, 5), 1000)) == [600, 300]
    assert sizes(fast._first_records(waiting(1500, 1), 1000)) == [1500]  # one, however large
    assert sizes(fast._first_records(waiting(1, 2, 3), 1000)) == [1, 2, 3]
    assert fast._first_records([], 1000) == []
