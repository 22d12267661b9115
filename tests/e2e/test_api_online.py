"""The online path's operator surface and failure answers (issue 13): `/metrics` counts what a
known sequence of requests did; every answer carries a request id; a database that is away
answers 503 with Retry-After; an Idempotency-Key whose work rolled back is free again at once,
and one whose work committed replays its answer even when the database dropped connections
while the answer was being recorded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import OperationalError

from rebill.entrypoints.api.routes import calls as calls_route
from rebill.services.access import idempotency as idempotency_service
from tests.e2e.api_fixtures import ACME_S1, World, world_for


@pytest.fixture
def world(sqlite_url: str) -> Iterator[World]:
    yield from world_for(sqlite_url, close=False)


def _call(call_id: str) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "sub_account": ACME_S1,
        "direction": "outbound",
        "started_at": "2026-12-10T10:00:00Z",
        "duration_seconds": 60,
    }


def _samples(world: World) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = world.client.get("/metrics").text
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def _delta(before: dict[Any, float], after: dict[Any, float], name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_metrics_count_a_known_sequence_of_requests(world: World) -> None:
    before = _samples(world)
    for _ in range(3):
        assert world.client.get("/healthz").json() == {"status": "ok"}
    admin = world.headers("admin")
    first = world.client.post(
        "/v1/calls", json={"calls": [_call("m-1"), _call("m-2")]}, headers=admin
    )
    assert [r["status"] for r in first.json()["results"]] == ["accepted", "accepted"]
    again = world.client.post("/v1/calls", json={"calls": [_call("m-1")]}, headers=admin)
    assert again.json()["results"][0]["status"] == "duplicate"
    authorized = world.client.post(
        "/v1/calls/authorize", json={"sub_account": ACME_S1, "direction": "outbound"}, headers=admin
    )
    assert authorized.status_code == 200
    reason = authorized.json()["reason"] or ""
    allowed = str(authorized.json()["allowed"]).lower()
    assert world.client.get("/v1/sub-accounts").status_code == 401
    after = _samples(world)
    requests = "rebill_http_requests_total"
    assert _delta(before, after, requests, method="GET", route="/healthz", status="200") == 3
    assert _delta(before, after, requests, method="POST", route="/v1/calls", status="200") == 2
    assert (
        _delta(before, after, requests, method="POST", route="/v1/calls/authorize", status="200")
        == 1
    )
    # Refused before routing: counted, under no route template.
    assert _delta(before, after, requests, method="GET", route="unmatched", status="401") == 1
    latency = "rebill_http_request_duration_seconds_count"
    assert _delta(before, after, latency, method="POST", route="/v1/calls") == 2
    recorded = "rebill_calls_recorded_total"
    assert _delta(before, after, recorded, status="accepted") == 2
    assert _delta(before, after, recorded, status="duplicate") == 1
    decisions = "rebill_authorizations_total"
    assert _delta(before, after, decisions, allowed=allowed, reason=reason) == 1
    assert ("rebill_job_queue_depth", (("job", "webhooks"),)) in after


def test_every_answer_carries_a_request_id(world: World) -> None:
    mine = world.client.get("/healthz", headers={"X-Request-ID": "req-42.a"})
    assert mine.headers["X-Request-ID"] == "req-42.a"
    made = world.client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert made.headers["X-Request-ID"] != "bad id\twith spaces"
    assert len(made.headers["X-Request-ID"]) == 32
    assert world.client.get("/readyz").json() == {"status": "ready"}


def _dropped(*_: Any, **__: Any) -> Any:
    raise OperationalError("INSERT ...", {}, Exception("server closed the connection"))


def test_database_away_is_503_with_retry_after_and_the_key_is_free_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = world.headers("admin", **{"Idempotency-Key": "away-1"})
    body = {"calls": [_call("away-1")]}
    with monkeypatch.context() as patch:
        patch.setattr(calls_route, "ingest_calls", _dropped)
        answer = world.client.post("/v1/calls", json=body, headers=headers)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "database_unavailable"
    # The work rolled back: the retry runs it (not 409 in flight), and then it replays.
    retry = world.client.post("/v1/calls", json=body, headers=headers)
    assert retry.status_code == 200
    assert retry.json()["results"][0]["status"] == "accepted"
    replay = world.client.post("/v1/calls", json=body, headers=headers)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == retry.json()


def test_committed_work_replays_although_recording_its_answer_failed_twice(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_finish = idempotency_service.finish_key
    failures = [2]

    def flaky_finish(*args: Any, **kwargs: Any) -> None:
        if failures[0]:
            failures[0] -= 1
            _dropped()
        real_finish(*args, **kwargs)

    from rebill.entrypoints.api import idempotency as idempotency_route

    monkeypatch.setattr(idempotency_route, "finish_key", flaky_finish)
    headers = world.headers("admin", **{"Idempotency-Key": "committed-1"})
    body = {"calls": [_call("committed-1")]}
    first = world.client.post("/v1/calls", json=body, headers=headers)
    assert first.status_code == 200
    assert failures == [0]
    second = world.client.post("/v1/calls", json=body, headers=headers)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()  # "accepted", never "duplicate" nor 409


def test_key_lookup_with_the_database_away_is_503(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rebill.entrypoints.api import app as app_module

    monkeypatch.setattr(app_module, "authenticate", _dropped)
    rebuilt = app_module.create_app(world.rebill)
    from fastapi.testclient import TestClient

    with TestClient(rebuilt) as client:
        answer = client.get("/v1/sub-accounts", headers=world.headers("admin"))
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert answer.json()["code"] == "database_unavailable"


def test_an_authorization_does_not_wait_behind_a_writer_on_sqlite(world: World) -> None:
    """A bulk write holds SQLite's write lock; a decision (and its key lookup) reads the
    committed state at once instead of queuing for the 30 s busy timeout."""
    import sqlite3
    import time

    path = str(world.rebill.settings.database_url).removeprefix("sqlite:///")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        answer = world.client.post(
            "/v1/calls/authorize",
            json={"sub_account": ACME_S1, "direction": "outbound"},
            headers=world.headers("admin"),
        )
        elapsed = time.monotonic() - started
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert answer.status_code == 200, answer.text
    assert answer.json()["allowed"] is True
    assert elapsed < 5, elapsed


def test_metrics_answer_only_the_scrape_token_when_one_is_set(sqlite_url: str) -> None:
    """REBILL_METRICS_TOKEN set: no token, a wrong one or an API key get 401 and no series;
    the token gets the series."""
    import dataclasses

    from fastapi.testclient import TestClient

    from rebill.entrypoints.api.app import create_app

    for world in world_for(sqlite_url, close=False):
        rebill = world.rebill
        rebill.settings = dataclasses.replace(rebill.settings, metrics_token="s3cret-scrape")
        client = TestClient(create_app(rebill))
        for headers in ({}, {"Authorization": "Bearer wrong"}, world.headers("platform")):
            refused = client.get("/metrics", headers=headers)
            assert refused.status_code == 401, headers
            assert "rebill_http_requests_total" not in refused.text
        allowed = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"})
        assert allowed.status_code == 200
        assert "rebill_job_queue_depth" in allowed.text
