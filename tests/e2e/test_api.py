"""The REST API's conventions, end to end through FastAPI's test client on both backends:
Idempotency-Key, batch ingestion with per-record results (and CloudEvents records), problem
details, authentication and roles, cursor pagination, amounts as strings, and authorization
answering the same document as `rebill authorize --json`."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from typer.testing import CliRunner

from rebill.entrypoints.cli.app import app as cli_app
from rebill.services.access.keys import revoke_key
from tests.e2e.api_fixtures import (
    ACME_S1,
    ACME_S2,
    BETA_OTHER_SUB,
    CLOSED,
    NOW,
    World,
    world_for,
)

PROBLEM = "application/problem+json"
MONEY = re.compile(r"^-?\d+\.\d{2}$")


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    yield from world_for(db_url, close=False)


@pytest.fixture
def closed_world(sqlite_url: str) -> Iterator[World]:
    yield from world_for(sqlite_url, close=True)


def call(call_id: str | None, sub: str = ACME_S1, **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "call_id": call_id,
        "sub_account": sub,
        "started_at": "2026-12-05T15:00:00Z",
        "duration_seconds": 60,
        "direction": "outbound",
    }
    if call_id is None:
        del record["call_id"]
    record.update(changes)
    return record


def billable_minutes(world: World, sub: str, period: str = "2026-12") -> Decimal:
    answer = world.client.get(
        "/v1/reports/usage", params={"period": period}, headers=world.headers("admin")
    )
    assert answer.status_code == 200, answer.text
    (row,) = [r for r in answer.json()["data"] if r["sub_account"] == sub]
    return Decimal(row["billable_minutes"])


def assert_problem(answer: Any, status: int, code: str, param: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM), answer.headers
    body = answer.json()
    for key in ("type", "title", "status", "detail", "code"):
        assert key in body, body
    assert body["status"] == status
    assert body["code"] == code, body
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["detail"], str) and body["detail"]
    if param is not None:
        assert body["param"] == param, body
    return body


# ---------------------------------------------------------------------------------------------
# Idempotency-Key
# ---------------------------------------------------------------------------------------------


def test_same_post_twice_with_one_key_has_one_effect(world: World) -> None:
    path = f"/v1/sub_accounts/{ACME_S1}/credits"
    headers = world.headers("billing", **{"Idempotency-Key": "topup-1"})
    before = world.client.get(path, headers=headers).json()["balance"]
    first = world.client.post(path, json={"amount": "25.00"}, headers=headers)
    second = world.client.post(path, json={"amount": "25.00"}, headers=headers)
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    assert second.status_code == 201, second.text
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    after = world.client.get(path, headers=world.headers("admin")).json()["balance"]
    assert Decimal(after) == Decimal(before) + Decimal("25.00")
    # one receipt, not two
    receipts = [
        d
        for d in world.client.get(
            "/v1/invoices", params={"limit": 100}, headers=world.headers("admin")
        ).json()["data"]
        if d["id"] == first.json()["receipt"]
    ]
    assert len(receipts) == 1
    # without a key, each POST is a new top-up
    plain = world.client.post(path, json={"amount": "25.00"}, headers=world.headers("billing"))
    assert plain.status_code == 201
    assert plain.json()["receipt"] != first.json()["receipt"]


def test_same_key_with_another_body_is_422(world: World) -> None:
    path = f"/v1/sub_accounts/{ACME_S1}/credits"
    headers = world.headers("billing", **{"Idempotency-Key": "topup-2"})
    assert world.client.post(path, json={"amount": "10.00"}, headers=headers).status_code == 201
    other = world.client.post(path, json={"amount": "11.00"}, headers=headers)
    assert_problem(other, 422, "idempotency_key_reused", "Idempotency-Key")
    # ...and on another path too: the key belongs to the first request
    elsewhere = world.client.post(
        f"/v1/sub_accounts/{ACME_S2}/credits", json={"amount": "10.00"}, headers=headers
    )
    assert_problem(elsewhere, 422, "idempotency_key_reused", "Idempotency-Key")
    balance = world.client.get(path, headers=headers).json()["balance"]
    assert Decimal(balance) == Decimal("10.00")


def test_idempotent_call_batch_is_stored_once(world: World) -> None:
    headers = world.headers("admin", **{"Idempotency-Key": "batch-1"})
    body = {"calls": [call("idem-1", duration_seconds=120)]}
    before = billable_minutes(world, ACME_S1)
    first = world.client.post("/v1/calls", json=body, headers=headers)
    second = world.client.post("/v1/calls", json=body, headers=headers)
    assert first.json()["results"][0]["status"] == "accepted"
    assert second.json() == first.json()  # replayed: "accepted", not "duplicate"
    assert second.headers["Idempotent-Replayed"] == "true"
    assert billable_minutes(world, ACME_S1) == before + 2


def test_keys_are_per_api_key(world: World) -> None:
    """An Idempotency-Key is remembered per API key: the same one from another key is not a
    replay."""
    first = world.client.post(
        "/v1/calls",
        json={"calls": [call("per-key-1")]},
        headers=world.headers("billing", **{"Idempotency-Key": "k"}),
    )
    second = world.client.post(
        "/v1/calls",
        json={"calls": [call("per-key-1")]},
        headers=world.headers("admin", **{"Idempotency-Key": "k"}),
    )
    assert first.json()["results"][0]["status"] == "accepted"
    assert "Idempotent-Replayed" not in second.headers
    assert second.json()["results"][0]["status"] == "duplicate"  # not replayed: run again


def test_same_idempotency_key_from_another_api_key_is_not_silently_dropped(world: World) -> None:
    path = f"/v1/sub_accounts/{ACME_S1}/credits"
    first = world.client.post(
        path, json={"amount": "1.00"}, headers=world.headers("billing", **{"Idempotency-Key": "k"})
    )
    second = world.client.post(
        path, json={"amount": "2.00"}, headers=world.headers("admin", **{"Idempotency-Key": "k"})
    )
    assert first.status_code == 201, first.text
    if second.status_code == 422:
        assert second.json()["code"] == "idempotency_key_reused"
        return
    assert second.status_code == 201, second.text
    assert second.json()["receipt"] != first.json()["receipt"]
    assert second.json()["balance"] == "3.00"


def test_two_plain_top_ups_at_one_instant_both_count(world: World) -> None:
    path = f"/v1/sub_accounts/{ACME_S1}/credits"
    first = world.client.post(path, json={"amount": "1.00"}, headers=world.headers("billing"))
    second = world.client.post(path, json={"amount": "2.00"}, headers=world.headers("billing"))
    assert first.status_code == second.status_code == 201
    assert second.json()["receipt"] != first.json()["receipt"]
    assert second.json()["balance"] == "3.00"


def test_in_flight_key_answers_409(world: World) -> None:
    path = f"/v1/sub_accounts/{ACME_S1}/credits"
    raw = b'{"amount": "3.00"}'
    digest = hashlib.sha256(path.encode() + b"\n" + raw).hexdigest()
    with world.rebill.uow() as uow:  # the first request has started and not finished
        uow.platform.idempotency.start(world.key_ids["billing"], "slow-1", digest, NOW)
        uow.commit()
    headers = world.headers(
        "billing", **{"Idempotency-Key": "slow-1", "Content-Type": "application/json"}
    )
    answer = world.client.post(path, content=raw, headers=headers)
    assert_problem(answer, 409, "idempotency_key_in_flight")
    assert world.client.get(path, headers=headers).json()["balance"] == "0.00"


# ---------------------------------------------------------------------------------------------
# batch ingestion
# ---------------------------------------------------------------------------------------------


def test_odd_values_are_rejected_one_record_at_a_time(world: World) -> None:
    """A duration of true, 60.0 or "²", a start before 1970 or with no UTC instant, a NUL in a
    label, a CloudEvents `data` that is not an object, an id of true: each is that record's
    rejection (naming its field), never the batch's 422 or 500, never stored as something else
    (true as 1 s). A numeric call id is its text, as in a usage file."""
    headers = world.headers("billing")
    before = billable_minutes(world, ACME_S1)
    batch = [
        call("odd-true", duration_seconds=True),
        call("odd-float", duration_seconds=60.0),
        call("odd-half", duration_seconds=1.5),
        call("odd-sup", duration_seconds="\u00b2"),
        call("odd-1969", started_at="1969-07-20T20:17:00Z"),
        call("odd-end", started_at="9999-12-31T23:59:59-01:00"),
        call("odd-nul", campaign_id="spring\u0000sale"),
        {"specversion": "1.0", "id": "odd-ce", "time": "2026-12-05T16:00:00Z", "data": "x"},
        call("odd-good", duration_seconds=60),
        call("odd-id-true") | {"call_id": True},
        call("odd-number") | {"call_id": 4155550123},  # a numeric id is its text, as in a file
    ]
    answer = world.client.post("/v1/calls", json={"calls": batch}, headers=headers)
    assert answer.status_code == 200, answer.text
    summary = [
        (r["call_id"], r["status"], r["error"] and r["error"]["param"])
        for r in answer.json()["results"]
    ]
    assert summary == [
        ("odd-true", "rejected", "duration_seconds"),
        ("odd-float", "rejected", "duration_seconds"),
        ("odd-half", "rejected", "duration_seconds"),
        ("odd-sup", "rejected", "duration_seconds"),
        ("odd-1969", "rejected", "started_at"),
        ("odd-end", "rejected", "started_at"),
        ("odd-nul", "rejected", "campaign_id"),
        ("odd-ce", "rejected", "data"),
        ("odd-good", "accepted", None),
        (None, "rejected", "call_id"),  # `true` is no call id to answer with
        ("4155550123", "accepted", None),
    ]
    assert billable_minutes(world, ACME_S1) == before + 2  # the good records alone
    again = world.client.post("/v1/calls", json={"calls": [call("4155550123")]}, headers=headers)
    assert again.json()["results"][0]["status"] == "duplicate"  # stored as the text "4155550123"


def test_batch_with_duplicates_and_bad_records(world: World) -> None:
    headers = world.headers("billing")
    stored = world.client.post("/v1/calls", json={"calls": [call("old-1")]}, headers=headers)
    assert stored.json()["results"] == [{"call_id": "old-1", "status": "accepted", "error": None}]
    before = billable_minutes(world, ACME_S1)
    batch = [
        call("new-1", duration_seconds=120),  # accepted
        call("old-1"),  # already stored
        call("new-1", duration_seconds=120),  # repeated within the batch
        call("bad-sub", sub="no-such-sub"),
        call("bad-time", started_at="yesterday at noon"),
        call("bad-naive", started_at="2026-12-05T15:00:00"),
        call("bad-duration", duration_seconds=-5),
        call("bad-direction", direction="sideways"),
        call(None),  # no call_id
        {
            "specversion": "1.0",
            "id": "ce-1",
            "time": "2026-12-05T16:00:00Z",
            "type": "call.completed",
            "source": "/voice/acme",
            "data": {"sub_account": ACME_S1, "duration_seconds": 60, "direction": "inbound"},
        },
        call("new-2", duration_seconds=180),  # accepted
        call("bad-duration-text", duration_seconds="12.5"),
    ]
    answer = world.client.post("/v1/calls", json={"calls": batch}, headers=headers)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    summary = [(r["call_id"], r["status"], r["error"] and r["error"]["param"]) for r in results]
    assert summary == [
        ("new-1", "accepted", None),
        ("old-1", "duplicate", None),
        ("new-1", "duplicate", None),
        ("bad-sub", "rejected", "sub_account"),
        ("bad-time", "rejected", "started_at"),
        ("bad-naive", "rejected", "started_at"),
        ("bad-duration", "rejected", "duration_seconds"),
        ("bad-direction", "rejected", "direction"),
        (None, "rejected", "call_id"),
        ("ce-1", "accepted", None),
        ("new-2", "accepted", None),
        ("bad-duration-text", "rejected", "duration_seconds"),
    ]
    for result in results:
        if result["status"] == "rejected":
            assert result["error"]["code"] == "invalid_record"
            assert result["error"]["message"]
        else:
            assert result["error"] is None
    assert "no-such-sub" in results[3]["error"]["message"]
    # good records stored once: 2 + 1 + 3 minutes (60/6 increments, whole minutes)
    assert billable_minutes(world, ACME_S1) == before + 6
    again = world.client.post("/v1/calls", json={"calls": batch}, headers=headers)
    statuses = [r["status"] for r in again.json()["results"]]
    assert statuses[:3] == ["duplicate"] * 3
    assert statuses[9:11] == ["duplicate", "duplicate"]
    assert billable_minutes(world, ACME_S1) == before + 6


def test_cloud_events_records(world: World) -> None:
    def event(event_id: str, **data: Any) -> dict[str, Any]:
        return {
            "specversion": "1.0",
            "id": event_id,
            "time": "2026-12-06T10:00:00Z",
            "type": "call.completed",
            "source": "https://voice.example/acme",
            "datacontenttype": "application/json",
            "data": {
                "sub_account": ACME_S2,
                "duration_seconds": 240,
                "direction": "outbound",
                **data,
            },
        }

    before = billable_minutes(world, ACME_S2)
    batch = [
        event("ce-a"),
        event("ce-b", call_id="explicit-id"),  # the data's keys win over the envelope's
        event("ce-a"),  # repeated
        event("ce-c", direction="upward"),
        {"specversion": "1.0", "id": "ce-d", "type": "call.completed", "source": "x"},
    ]
    answer = world.client.post("/v1/calls", json={"calls": batch}, headers=world.headers("admin"))
    assert answer.status_code == 200, answer.text
    summary = [(r["call_id"], r["status"]) for r in answer.json()["results"]]
    assert summary == [
        ("ce-a", "accepted"),
        ("explicit-id", "accepted"),
        ("ce-a", "duplicate"),
        ("ce-c", "rejected"),
        ("ce-d", "rejected"),
    ]
    assert billable_minutes(world, ACME_S2) == before + 8


def test_a_thousand_records_are_accepted_a_thousand_and_one_are_not(world: World) -> None:
    thousand = [call(f"bulk-{n:04d}", duration_seconds=6) for n in range(1000)]
    answer = world.client.post(
        "/v1/calls", json={"calls": thousand}, headers=world.headers("admin")
    )
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert len(results) == 1000
    assert {r["status"] for r in results} == {"accepted"}
    assert [r["call_id"] for r in results] == [c["call_id"] for c in thousand]
    too_many = [*thousand, call("bulk-1000")]
    refused = world.client.post(
        "/v1/calls", json={"calls": too_many}, headers=world.headers("admin")
    )
    assert_problem(refused, 422, "invalid_input", "calls")
    empty = world.client.post("/v1/calls", json={"calls": []}, headers=world.headers("admin"))
    assert_problem(empty, 422, "invalid_input", "calls")
    # nothing of the refused batch was stored (bulk-1000 is new)
    retry = world.client.post(
        "/v1/calls", json={"calls": [call("bulk-1000")]}, headers=world.headers("admin")
    )
    assert retry.json()["results"][0]["status"] == "accepted"


# ---------------------------------------------------------------------------------------------
# problems, authentication, roles
# ---------------------------------------------------------------------------------------------


def test_errors_are_problem_details(world: World) -> None:
    missing = world.client.get("/v1/sub_accounts/nobody", headers=world.headers("admin"))
    body = assert_problem(missing, 404, "not_found")
    assert "nobody" in body["detail"]
    bad_limit = world.client.get(
        "/v1/sub_accounts", params={"limit": 0}, headers=world.headers("admin")
    )
    assert_problem(bad_limit, 422, "invalid_input", "limit")
    bad_body = world.client.post(
        f"/v1/sub_accounts/{ACME_S1}/state",
        json={"state": "asleep"},
        headers=world.headers("admin"),
    )
    assert_problem(bad_body, 422, "invalid_input", "state")
    bad_period = world.client.get(
        "/v1/reports/usage", params={"period": "December"}, headers=world.headers("admin")
    )
    assert_problem(bad_period, 422, "invalid_input", "period")
    platform = world.client.get("/v1/plans", headers=world.headers("platform"))
    assert_problem(platform, 422, "invalid_input", "agency")
    not_json = world.client.post(
        "/v1/calls",
        content=b"{not json",
        headers=world.headers("admin", **{"Content-Type": "application/json"}),
    )
    assert_problem(not_json, 422, "invalid_input")


def test_unauthenticated_requests_are_401(world: World) -> None:
    key_text, key_id = world.new_key("agency", "acme", role="admin")
    assert (
        world.client.get(
            "/v1/sub_accounts", headers={"Authorization": f"Bearer {key_text}"}
        ).status_code
        == 200
    )
    revoke_key(world.rebill.uow, key_id, NOW)
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer rbk_key_0000_notasecret"},
        {"Authorization": f"Bearer {key_text}x"},
        {"Authorization": f"Bearer {key_text}"},  # revoked
    ):
        for method, path, body in (
            ("GET", "/v1/sub_accounts", None),
            ("POST", "/v1/calls", {"calls": [call("unauth-1")]}),
        ):
            answer = world.client.request(method, path, json=body, headers=headers)
            assert_problem(answer, 401, "unauthorized")
            assert answer.headers["WWW-Authenticate"] == "Bearer"
    # nothing was stored by the refused POSTs
    accepted = world.client.post(
        "/v1/calls", json={"calls": [call("unauth-1")]}, headers=world.headers("admin")
    )
    assert accepted.json()["results"][0]["status"] == "accepted"


@pytest.mark.parametrize(
    ("role", "method", "path", "body", "allowed"),
    [
        ("settings", "POST", "/v1/calls", {"calls": [call("role-1")]}, False),
        ("billing", "POST", "/v1/calls", {"calls": [call("role-2")]}, True),
        ("sub", "POST", "/v1/calls", {"calls": [call("role-3")]}, False),
        ("billing", "POST", "/v1/catalog", {"agencies": []}, False),
        ("sub", "POST", "/v1/catalog", {"agencies": []}, False),
        ("settings", "POST", "/v1/catalog", {"agencies": []}, True),
        ("settings", "POST", f"/v1/sub_accounts/{ACME_S1}/credits", {"amount": "1.00"}, False),
        ("sub", "POST", f"/v1/sub_accounts/{ACME_S1}/credits", {"amount": "1.00"}, False),
        ("billing", "POST", f"/v1/sub_accounts/{ACME_S1}/caps", {"monthly_spend": "9.00"}, False),
        ("settings", "POST", f"/v1/sub_accounts/{ACME_S1}/caps", {"monthly_spend": "9.00"}, True),
        ("settings", "POST", f"/v1/periods/{CLOSED}/close", None, False),
        (
            "sub",
            "POST",
            "/v1/calls/authorize",
            {"sub_account": ACME_S1, "direction": "outbound"},
            False,
        ),
    ],
)
def test_roles(world: World, role: str, method: str, path: str, body: Any, allowed: bool) -> None:
    answer = world.client.request(method, path, json=body, headers=world.headers(role))
    if allowed:
        assert answer.status_code in (200, 201), answer.text
    else:
        assert_problem(answer, 403, "forbidden")


def test_a_sub_account_key_reads_its_own(world: World) -> None:
    headers = world.headers("sub")
    listed = world.client.get("/v1/sub_accounts", headers=headers).json()
    assert [d["id"] for d in listed["data"]] == [ACME_S1]
    assert (
        world.client.get(f"/v1/sub_accounts/{ACME_S1}/credits", headers=headers).status_code == 200
    )


# ---------------------------------------------------------------------------------------------
# pagination, amounts
# ---------------------------------------------------------------------------------------------


def test_cursor_pagination_over_sub_accounts(world: World) -> None:
    headers = world.headers("admin")
    everything = world.client.get("/v1/sub_accounts", params={"limit": 100}, headers=headers).json()
    assert everything["has_more"] is False
    ids = [d["id"] for d in everything["data"]]
    assert len(ids) == 7 and len(set(ids)) == 7
    pages, after = [], None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if after:
            params["starting_after"] = after
        page = world.client.get("/v1/sub_accounts", params=params, headers=headers).json()
        pages.append(([d["id"] for d in page["data"]], page["has_more"]))
        if not page["has_more"]:
            break
        after = page["data"][-1]["id"]
    assert pages == [(ids[0:3], True), (ids[3:6], True), (ids[6:7], False)]
    exact = world.client.get("/v1/sub_accounts", params={"limit": 7}, headers=headers).json()
    assert exact["has_more"] is False and len(exact["data"]) == 7
    last = world.client.get(
        "/v1/sub_accounts", params={"starting_after": ids[-1]}, headers=headers
    ).json()
    assert last == {"data": [], "has_more": False}
    unknown = world.client.get(
        "/v1/sub_accounts", params={"starting_after": "nobody"}, headers=headers
    )
    assert_problem(unknown, 422, "invalid_input", "starting_after")
    too_big = world.client.get("/v1/sub_accounts", params={"limit": 101}, headers=headers)
    assert_problem(too_big, 422, "invalid_input", "limit")


def _money_fields(document: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    names = {"amount", "balance", "credits", "subtotal", "tax", "total", "monthly_fee",
             "revenue", "cost", "profit", "monthly_spend"}  # fmt: skip
    if isinstance(document, dict):
        for key, value in document.items():
            if key in names and value is not None and not isinstance(value, dict | list):
                yield f"{path}.{key}", value
            yield from _money_fields(value, f"{path}.{key}")
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _money_fields(value, f"{path}[{index}]")


def test_amounts_are_strings_beside_a_currency(closed_world: World) -> None:
    world = closed_world
    headers = world.headers("admin")
    world.client.post(
        f"/v1/sub_accounts/{ACME_S1}/caps", json={"monthly_spend": "12.5"}, headers=headers
    )
    topup = world.client.post(
        f"/v1/sub_accounts/{ACME_S1}/credits", json={"amount": "20"}, headers=headers
    ).json()
    documents = {
        "sub_account": world.client.get(f"/v1/sub_accounts/{ACME_S1}", headers=headers).json(),
        "credits": world.client.get(f"/v1/sub_accounts/{ACME_S1}/credits", headers=headers).json(),
        "topup": topup,
        "plan": world.client.get("/v1/plans/starter", headers=headers).json(),
        "invoice": world.client.get(f"/v1/invoices/{world.s1_invoice}", headers=headers).json(),
        "profit": world.client.get(
            "/v1/reports/profit", params={"period": CLOSED}, headers=headers
        ).json(),
    }
    assert topup["balance"] == "20.00"
    assert documents["sub_account"]["caps"]["monthly_spend"] == "12.50"
    for name, document in documents.items():
        assert document["currency"] == "USD", name
        fields = list(_money_fields(document))
        assert fields, name
        for where, value in fields:
            assert isinstance(value, str) and MONEY.match(value), f"{name}{where} = {value!r}"


# ---------------------------------------------------------------------------------------------
# authorization: the same document as the CLI
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agency", "who", "sub", "direction"),
    [
        ("acme", "admin", ACME_S1, "outbound"),
        ("acme", "billing", ACME_S2, "inbound"),
        ("beta", "beta_admin", BETA_OTHER_SUB, "outbound"),  # suspended: refused
    ],
)
def test_authorize_matches_the_cli(
    world: World, db_url: str, agency: str, who: str, sub: str, direction: str
) -> None:
    body = {"sub_account": sub, "direction": direction}
    answer = world.client.post("/v1/calls/authorize", json=body, headers=world.headers(who))
    assert answer.status_code == 200, answer.text
    result = CliRunner().invoke(
        cli_app,
        [
            "authorize",
            "--agency",
            agency,
            "--sub-account",
            sub,
            "--direction",
            direction,
            "--json",
            "--db",
            db_url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert answer.json() == json.loads(result.stdout)
    if sub == BETA_OTHER_SUB:
        assert answer.json()["allowed"] is False


def test_authorize_with_a_call_id_reserves_a_slot(world: World, db_url: str) -> None:
    body = {"sub_account": ACME_S1, "direction": "outbound", "call_id": "slot-1"}
    answer = world.client.post("/v1/calls/authorize", json=body, headers=world.headers("admin"))
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert document["allowed"] is True
    assert document["call_id"] == "slot-1"
    assert document["slot_expires_at"]
    result = CliRunner().invoke(
        cli_app,
        ["authorize", "--agency", "acme", "--sub-account", ACME_S1, "--direction", "outbound",
         "--call-id", "slot-2", "--json", "--db", db_url],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    cli = json.loads(result.stdout)
    assert set(cli) == set(document)
    assert {k: v for k, v in cli.items() if k != "call_id"} == {
        k: v for k, v in document.items() if k != "call_id"
    }
