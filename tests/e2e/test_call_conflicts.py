"""A call id sent again (issue 12): with the same content it is a `duplicate`; with different
content it is a `conflict` naming the fields that differ -- in the API batch's per-record
results and in the file import's report -- and the first call stays stored and billed as it
was. On both stores."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from rebill.services.usage.import_file import import_usage_file
from tests.e2e.api_fixtures import ACME_S1, ACME_S2, NOW, World, world_for
from tests.e2e.test_api import billable_minutes, call


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    yield from world_for(db_url, close=False)


def _stored(world: World, call_id: str) -> tuple[Any, ...]:
    with world.rebill.uow() as uow:
        row = uow.session.execute(
            text(
                "SELECT sub_account_id, duration_seconds, direction, status, "
                "retail_billable_seconds FROM calls WHERE call_id = :id"
            ),
            {"id": call_id},
        ).one()
    return tuple(row)


def test_a_resent_call_id_with_other_content_is_a_conflict_with_its_fields(world: World) -> None:
    headers = world.headers("billing")
    first = world.client.post(
        "/v1/calls", json={"calls": [call("c-1", duration_seconds=120)]}, headers=headers
    )
    assert first.json()["results"][0]["status"] == "accepted"
    before, row = billable_minutes(world, ACME_S1), _stored(world, "c-1")
    other_before = billable_minutes(world, ACME_S2)
    batch = [
        call("c-1", duration_seconds=120),  # the same call: a duplicate
        call("c-1", started_at="2026-12-05T10:00:00-05:00", duration_seconds=120),  # same instant
        call("c-1", duration_seconds=900, status="failed"),  # other content: a conflict
        call("c-1", sub=ACME_S2, duration_seconds=120),  # another sub-account's: a conflict
        call("c-2", duration_seconds=60),  # new
        call("c-2", duration_seconds=61),  # its twin in the batch, differing
    ]
    answer = world.client.post("/v1/calls", json={"calls": batch}, headers=headers)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["status"] for r in results] == [
        "duplicate",
        "duplicate",
        "conflict",
        "conflict",
        "accepted",
        "conflict",
    ]
    assert results[2]["error"]["code"] == "call_id_conflict"
    assert results[2]["error"]["fields"] == ["duration_seconds", "status"]
    assert results[2]["error"]["param"] == "duration_seconds"
    assert "c-1" in results[2]["error"]["message"]
    assert results[3]["error"]["fields"] == ["sub_account"]
    assert results[5]["error"]["fields"] == ["duration_seconds"]
    assert results[0]["error"] is None and results[4]["error"] is None
    # the first call is kept as it was; only c-2 (one minute) was added
    assert _stored(world, "c-1") == row
    assert billable_minutes(world, ACME_S1) == before + 1
    assert billable_minutes(world, ACME_S2) == other_before


def test_the_file_import_reports_conflicts_by_line(world: World, tmp_path: Path) -> None:
    def line(call_id: str, **changes: Any) -> str:
        return json.dumps(call(call_id, **changes))

    first = tmp_path / "first.jsonl"
    first.write_text(line("f-1") + "\n" + line("f-2", duration_seconds=90) + "\n")
    report = import_usage_file(world.rebill.uow, "acme", first, NOW)
    assert (report.imported, report.duplicates, report.conflicts) == (2, 0, 0)
    before, row = billable_minutes(world, ACME_S1), _stored(world, "f-2")

    second = tmp_path / "second.jsonl"
    second.write_text(
        "\n".join(
            [
                line("f-1"),  # duplicate
                line("f-2", duration_seconds=95, direction="inbound"),  # conflict
                line("f-3"),  # new
                line("f-3", phone_number="+15550001111"),  # its twin, differing: conflict
            ]
        )
        + "\n"
    )
    report = import_usage_file(world.rebill.uow, "acme", second, NOW)
    assert (report.imported, report.duplicates, report.conflicts, report.rejected) == (1, 1, 2, 0)
    assert [(c.location, c.field) for c in report.conflict_details] == [
        (f"{second}:2", "duration_seconds"),
        (f"{second}:4", "phone_number"),
    ]
    assert "duration_seconds, direction" in report.conflict_details[0].message
    assert _stored(world, "f-2") == row
    assert billable_minutes(world, ACME_S1) == before + Decimal(1)
