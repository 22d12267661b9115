"""What the repositories share: the base of agency-bound repositories, an INSERT that ignores a
duplicate key on both backends, and the columns of a voice rate."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from rebill.adapters.db.rows import PlanVoiceRateRow, WholesaleVoiceRateRow
from rebill.domain.rating import Increment, VoiceRate

_prebuilt: dict[tuple[str, bool], Any] = {}


def prebuilt(name: str, postgresql: bool, build: Callable[[bool], Any]) -> Any:
    """A statement of the hot paths built once per backend (with bound parameters for what
    varies), so SQLAlchemy computes its cache key once, not at every call."""
    statement = _prebuilt.get((name, postgresql))
    if statement is None:
        statement = _prebuilt[(name, postgresql)] = build(postgresql)
    return statement


def table_of(row: type[Any]) -> Table:
    """A mapped row's table, typed as the `Table` it is (Core statements take it)."""
    return cast(Table, row.__table__)


class AgencyBound:
    """A repository over one session, bound to one agency: every query filters by it."""

    def __init__(self, session: Session, agency_id: str) -> None:
        assert agency_id, "a repository is bound to an agency: an empty id is a programmer error"
        self.session = session
        self.agency_id = agency_id


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert_ignoring_duplicates(session: Session, row: Any, values: dict[str, Any]) -> Any:
    """An INSERT … ON CONFLICT DO NOTHING statement of the session's dialect (each dialect's
    insert is imported on its own backend only: SQLite never loads PostgreSQL's)."""
    if is_postgresql(session):
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(row).values(**values).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(row).values(**values).on_conflict_do_nothing()


def utc_value(instant: datetime, as_text: bool) -> object:
    """An aware datetime as the `UtcDateTime` column stores it (naive UTC; text on SQLite), for
    the rows written straight through the driver."""
    at = instant.astimezone(UTC).replace(tzinfo=None)
    return at.isoformat(" ", "microseconds") if as_text else at


def write_rows(
    session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]
) -> None:
    """Append rows to `table` straight through the driver, whatever their number, in one
    statement: `COPY` on PostgreSQL, one executemany on SQLite (no statement to compile, no
    parameters to process one by one). The session's pending changes are written first, as a
    query would; datetimes must come as `utc_value` gives them."""
    session.flush()
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        driver = connection.connection.driver_connection
        assert driver is not None
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    insert_rows(session, table, columns, rows)


def insert_rows(
    session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]
) -> None:
    """Rows into `table` by one INSERT through the driver (an executemany when there are
    many): no statement to compile, and the read cache sees the table written (the engine's
    events see the statement, which `write_rows`' COPY bypasses). The session's pending
    changes are written first; datetimes must come as `utc_value` gives them."""
    session.flush()
    connection = session.connection()
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    listed = list(rows)
    if listed:
        connection.exec_driver_sql(
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join([marker] * len(columns))})",
            listed if len(listed) > 1 else listed[0],
        )


def voice_rate(row: WholesaleVoiceRateRow | PlanVoiceRateRow) -> VoiceRate:
    return VoiceRate(
        per_minute_micros=row.per_minute_micros,
        increment=Increment(row.increment_first_seconds, row.increment_step_seconds),
        connect_fee_micros=row.connect_fee_micros,
        per_minute_decimals=row.per_minute_decimals,
    )


def voice_columns(rate: VoiceRate) -> dict[str, int]:
    return {
        "per_minute_micros": rate.per_minute_micros,
        "per_minute_decimals": rate.per_minute_decimals,
        "increment_first_seconds": rate.increment.first_seconds,
        "increment_step_seconds": rate.increment.step_seconds,
        "connect_fee_micros": rate.connect_fee_micros,
    }
