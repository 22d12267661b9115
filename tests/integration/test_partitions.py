"""Calls partitioned by month on PostgreSQL (issue 12, migration 0017): a partition for every
month calls arrive for (far past and far future included), made on the fly and ahead of time;
a billed month detached leaves every later close and report as they would have been, its ids
still known; attached again with the calls that came meanwhile; the migration keeps every row.
SQLite keeps one table and says so."""

from __future__ import annotations

import json
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from typer.testing import CliRunner

from rebill.adapters.db.engine import alembic_config, make_engine, migrate
from rebill.domain.errors import ConflictError, ValidationError
from rebill.entrypoints.cli.app import app as cli
from rebill.services.invoicing.close import close_period
from rebill.services.usage.archive import attach_month, call_months, detach_month, prepare_months
from rebill.services.usage.import_file import ingest_calls
from tests.integration.test_close_integrity import NOW, PERIOD, seeded

POSTGRES = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
AGENCIES = ["acme", "beta"]


def _call(call_id: str, started_at: str, seconds: int = 95) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "sub_account": "bright-dental",
        "started_at": started_at,
        "duration_seconds": seconds,
        "direction": "outbound",
    }


def _statuses(app: Any, records: list[dict[str, Any]]) -> list[str]:
    return [r.status for r in ingest_calls(app.uow, "acme", records, NOW)]


def _scalar(app: Any, sql: str) -> Any:
    with app.engine.connect() as connection:
        return connection.execute(text(sql)).scalar_one()


def _months(app: Any) -> dict[str, bool]:
    return {m.period: m.attached for m in call_months(app.call_archive)}


def _november_and_its_close(app: Any, detach: bool) -> list[dict[str, Any]]:
    """October closed; November's calls; then (optionally) October detached, a repeat of an
    October call and a new late one for October; November closed."""
    assert _statuses(app, [_call(f"nov-{n}", f"2026-11-{n + 1:02d}T15:00:00Z") for n in range(9)])
    close_period(app.uow, PERIOD, AGENCIES, NOW)
    if detach:
        month = detach_month(app.call_archive, "2026-10", NOW)
        assert (month.table, month.attached) == ("calls_2026_10_detached", False)
    assert _statuses(app, [_call("nov-0", "2026-11-01T15:00:00Z")]) == ["duplicate"]
    assert _statuses(app, [_call("oct-late", "2026-10-20T15:00:00Z", 130)]) == ["accepted"]
    return close_period(app.uow, PERIOD.next(), AGENCIES, NOW)


@POSTGRES
def test_a_detached_month_changes_no_later_close_and_comes_back_whole(
    db_url: str, sqlite_url: str
) -> None:
    app = seeded(db_url)
    october_calls = _scalar(app, "SELECT COUNT(*) FROM calls WHERE period = '2026-10'")
    assert october_calls > 0
    assert _months(app) == {"2026-10": True}
    # Not closed yet: refused, nothing changed.
    with pytest.raises(ConflictError, match="acme, beta"):
        detach_month(app.call_archive, "2026-10", NOW)
    assert _months(app) == {"2026-10": True}
    with pytest.raises(ConflictError, match="too recent"):
        detach_month(app.call_archive, "2026-11", NOW)

    documents = _november_and_its_close(app, detach=True)
    # The same story on SQLite (one table, nothing detached) closes November identically.
    reference = _november_and_its_close(seeded(sqlite_url), detach=False)
    assert json.dumps(documents, sort_keys=True, default=str) == json.dumps(
        reference, sort_keys=True, default=str
    )
    # The late October call went to a partition made afresh beside the detached month.
    listed = {(m.period, m.attached) for m in call_months(app.call_archive)}
    assert ("2026-10", False) in listed and ("2026-10", True) in listed
    # A call of the detached month sent again is still a duplicate (its id is kept).
    october_id = _scalar(app, "SELECT call_id FROM calls_2026_10_detached ORDER BY call_id LIMIT 1")
    repeat = _call(october_id, "2026-10-02T15:00:00Z")
    assert [r.status for r in ingest_calls(app.uow, "acme", [repeat], NOW)] == ["duplicate"]

    month = attach_month(app.call_archive, "2026-10")
    assert (month.table, month.attached, month.rows) == ("calls_2026_10", True, october_calls + 1)
    assert ("2026-10", False) not in {(m.period, m.attached) for m in call_months(app.call_archive)}
    assert _scalar(app, "SELECT COUNT(*) FROM calls") == _scalar(
        app, "SELECT COUNT(*) FROM call_ids"
    )
    with pytest.raises(ValidationError):
        detach_month(app.call_archive, "2026-13", NOW)


@POSTGRES
def test_far_months_get_partitions_made_for_them_and_ahead(db_url: str) -> None:
    app = seeded(db_url)
    records = [
        _call("past", "2019-03-10T12:00:00Z"),
        _call("future", "2031-07-04T12:00:00Z"),
    ]
    assert _statuses(app, records) == ["accepted", "accepted"]
    months = _months(app)
    assert months["2019-03"] and months["2031-07"]
    with app.engine.connect() as connection:
        where = connection.execute(
            text(
                "SELECT call_id, tableoid::regclass::text FROM calls "
                "WHERE call_id IN ('past', 'future')"
            )
        ).all()
    assert sorted(where) == [("future", "calls_2031_07"), ("past", "calls_2019_03")]
    made = prepare_months(app.call_archive, NOW, ahead=3)
    assert made == ["2026-11", "2026-12", "2027-01", "2027-02", "2027-03"]
    assert prepare_months(app.call_archive, NOW, ahead=3) == []  # idempotent


@POSTGRES
def test_the_month_command_lists_makes_and_refuses(db_url: str) -> None:
    seeded(db_url)
    runner = CliRunner()
    listed = runner.invoke(cli, ["db", "months", "--ahead", "1", "--db", db_url, "--json"])
    assert listed.exit_code == 0, listed.output
    document = json.loads(listed.stdout)
    assert document["made"] == ["2026-11", "2026-12", "2027-01"]
    assert [m["period"] for m in document["data"]] == ["2026-10", "2026-11", "2026-12", "2027-01"]
    refused = runner.invoke(cli, ["db", "detach", "2026-10", "--db", db_url])
    assert refused.exit_code == 5
    assert "not closed by every agency" in refused.stderr
    assert json.loads(runner.invoke(cli, ["db", "months", "--db", db_url, "--json"]).stdout)[
        "data"
    ][0] == {
        "period": "2026-10",
        "table": "calls_2026_10",
        "attached": True,
        "rows": document["data"][0]["rows"],
    }


def test_sqlite_has_one_table_and_says_so(sqlite_url: str) -> None:
    app = seeded(sqlite_url)
    assert prepare_months(app.call_archive, NOW) == []
    with pytest.raises(ValidationError, match="PostgreSQL"):
        call_months(app.call_archive)
    result = CliRunner().invoke(cli, ["db", "months", "--db", sqlite_url])
    assert result.exit_code == 1
    assert "SQLite keeps one calls table" in result.stderr


@POSTGRES
def test_the_migration_carries_every_call_over(db_url: str) -> None:
    engine = make_engine(db_url)
    command.upgrade(alembic_config(engine), "0016")
    columns = (
        "agency_id, call_id, sub_account_id, started_at, duration_seconds, direction, period, "
        "late, retail_billable_seconds, included_seconds, credit_micros, postpaid_micros, "
        "postpaid_seconds_e6, retail_rate_micros, retail_rate_decimals, "
        "wholesale_billable_seconds, wholesale_cost_micros"
    )
    rows = [
        (
            "acme" if n % 3 else "beta",
            f"m-{n}",
            "s1",
            f"2026-{9 + n % 3:02d}-05 10:00:00",
            60 + n,
            "outbound",
            f"2026-{9 + n % 3:02d}",
            n % 2,
            *(n * k for k in range(1, 10)),
        )
        for n in range(30)
    ]
    marks = ", ".join(f":v{i}" for i in range(17))
    with engine.begin() as connection:
        for row in rows:
            connection.execute(
                text(f"INSERT INTO calls ({columns}) VALUES ({marks})"),
                {f"v{i}": v for i, v in enumerate(row)},
            )
        before = connection.execute(text(f"SELECT {columns} FROM calls ORDER BY 1, 2")).all()
    migrate(engine)
    with engine.connect() as connection:
        after = connection.execute(text(f"SELECT {columns} FROM calls ORDER BY 1, 2")).all()
        ids = connection.execute(
            text("SELECT agency_id, call_id, period FROM call_ids ORDER BY 1, 2")
        ).all()
        places = connection.execute(
            text("SELECT tableoid::regclass::text, COUNT(*) FROM calls GROUP BY 1 ORDER BY 1")
        ).all()
    assert after == before
    assert ids == [(r[0], r[1], r[6]) for r in before]
    assert places == [("calls_2026_09", 10), ("calls_2026_10", 10), ("calls_2026_11", 10)]
    engine.dispose()
