"""`call_totals` (issue 12): the close reads the period's sums from rows kept up to date on
every insert of calls; they always equal a GROUP BY over the calls themselves (late calls
excluded), after imports, API batches and late calls, and after migration 0012 has summed a
database's existing calls. On both stores."""

from __future__ import annotations

from typing import Any

from alembic import command
from sqlalchemy import text

from rebill.adapters.db.engine import alembic_config, migrate
from rebill.services.invoicing.close import close_period
from rebill.services.usage.import_file import ingest_calls
from tests.integration.test_close_integrity import NOW, PERIOD, seeded

KEYS = "agency_id, period, sub_account_id, direction, retail_rate_micros, retail_rate_decimals"
SUMS = (
    "postpaid_micros, postpaid_seconds_e6, credit_micros, wholesale_billable_seconds, "
    "wholesale_cost_micros"
)
FROM_CALLS = (
    f"SELECT {KEYS}, COUNT(*), "
    + ", ".join(f"SUM({c.strip()})" for c in SUMS.split(","))
    + f" FROM calls WHERE late = 0 GROUP BY {KEYS} ORDER BY {KEYS}"
)
FROM_TOTALS = f"SELECT {KEYS}, calls, {SUMS} FROM call_totals ORDER BY {KEYS}"


def _rows(app: Any, sql: str) -> list[tuple[Any, ...]]:
    with app.uow() as uow:
        return [
            tuple(int(v) if isinstance(v, int) else v for v in r)
            for r in uow.session.execute(text(sql))
        ]


def _late_and_new_calls(app: Any) -> None:
    close_period(app.uow, PERIOD, ["acme"], NOW)
    records = [
        {
            "call_id": f"t-{n}",
            "sub_account": "bright-dental",
            "started_at": f"2026-{10 + n % 3}-0{1 + n % 9}T10:00:00Z",  # October's are late
            "duration_seconds": 61 + 37 * n,
            "direction": "outbound" if n % 3 else "inbound",
        }
        for n in range(12)
    ]
    results = ingest_calls(app.uow, "acme", records, NOW)
    assert {r.status for r in results} == {"accepted"}


def test_totals_equal_a_group_by_over_the_calls(db_url: str) -> None:
    app = seeded(db_url)
    _late_and_new_calls(app)
    with app.uow() as uow:
        late = uow.session.execute(text("SELECT COUNT(*) FROM calls WHERE late = 1")).scalar_one()
    assert late > 0  # the seeded month's calls sent after its close are not in the totals
    expected = _rows(app, FROM_CALLS)
    assert len(expected) > 4
    assert _rows(app, FROM_TOTALS) == expected
    app.dispose()


def test_migration_0012_sums_the_existing_calls(db_url: str) -> None:
    app = seeded(db_url)
    _late_and_new_calls(app)
    expected = _rows(app, FROM_CALLS)
    config = alembic_config(app.engine)
    command.downgrade(config, "0011")  # the schema before: no call_totals
    with app.engine.connect() as connection:
        calls_before = connection.execute(text("SELECT COUNT(*) FROM calls")).scalar_one()
    migrate(app.engine)
    assert _rows(app, FROM_TOTALS) == expected
    with app.engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM calls")).scalar_one() == calls_before
    app.dispose()


def test_agency_usage_accrues_each_batch_wholesale_per_period(db_url: str) -> None:
    """`agency_usage` (the wholesale an agency accrued per period, one upsert per period and
    batch, plain SQL since issue 13) equals the sum over the stored calls, late ones included,
    after batches that create a period's row and batches that add to it."""
    app = seeded(db_url)
    _late_and_new_calls(app)  # new rows for November and December, October's added to
    more = [
        {
            "call_id": f"u-{n}",
            "sub_account": "bright-dental",
            "started_at": f"2026-{11 + n % 2}-1{n % 9}T09:00:00Z",
            "duration_seconds": 17 + 11 * n,
            "direction": "inbound" if n % 2 else "outbound",
        }
        for n in range(6)
    ]
    assert {r.status for r in ingest_calls(app.uow, "acme", more, NOW)} == {"accepted"}
    expected = _rows(
        app,
        "SELECT period, SUM(wholesale_cost_micros) FROM calls WHERE agency_id = 'acme' "
        "GROUP BY period ORDER BY period",
    )
    stored = _rows(
        app,
        "SELECT period, wholesale_micros FROM agency_usage WHERE agency_id = 'acme' "
        "ORDER BY period",
    )
    assert [p for p, _ in stored] == ["2026-10", "2026-11", "2026-12"]
    assert stored == expected
