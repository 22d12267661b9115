"""The monthly partitions of `calls` on PostgreSQL (issue 12, migration 0017).

One partition per agency-local month, `calls_2026_10` for period '2026-10'. A partition is
made as a plain table `LIKE calls` and then attached (`ATTACH PARTITION` takes only a SHARE
UPDATE EXCLUSIVE lock on `calls`, which no reader or writer of calls conflicts with), on its
own short connection, so an import whose transaction already holds `calls` can have the next
month's partition made for it and write into it without waiting for itself. `CREATE TABLE …
PARTITION OF` would need an ACCESS EXCLUSIVE lock on `calls` and block every other ingestion.

Each process remembers the months it has seen attached (`ensure` costs nothing then). A month
detached by another process is found when a write meets "no partition found for row": the
memory is dropped and the work runs again (`ConcurrentWriteError`), and then the month's
partition is made afresh; `attach` later merges it into the detached month's rows.

A detached month is renamed `calls_2026_10_detached` and keeps every row; the calls' ids stay
in `call_ids`, so a call sent again is still a duplicate. SQLite has one table and none of
this.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Column, MetaData, String, Table, text
from sqlalchemy.engine import Connection, Engine

from rebill.domain.errors import ConflictError, NotFoundError
from rebill.domain.period import Period
from rebill.services.ports.archive import CallMonth, MonthBilling

PARENT = "calls"
_NAME = re.compile(r"^calls_(\d{4})_(\d{2})(_detached)?$")
_LOCK_KEY = 0x7265_6269_6C6C  # pg_advisory_xact_lock key of partition changes ("rebill")
lock_timeout = "10s"  # a partition change waits this long for the locks it needs

# The guard of one call id per agency across months (PostgreSQL only; not in the ORM's
# metadata, which describes the tables both stores have).
call_ids_table = Table(
    "call_ids",
    MetaData(),
    Column("agency_id", String(64), primary_key=True),
    Column("call_id", String(200), primary_key=True),
    Column("period", String(7), nullable=False),
)

_known: weakref.WeakKeyDictionary[Engine, set[str]] = weakref.WeakKeyDictionary()
_known_lock = threading.Lock()


@dataclass(frozen=True)
class Partition:
    period: str
    table: str
    attached: bool
    rows: int  # PostgreSQL's estimate (pg_class.reltuples; -1 before the first ANALYZE)


def table_name(period: str, detached: bool = False) -> str:
    p = Period.parse(period)
    return f"calls_{p.year:04d}_{p.month:02d}" + ("_detached" if detached else "")


def partitions(connection: Connection) -> list[Partition]:
    """Every month's table, attached or detached, in month order."""
    rows = connection.execute(
        text(
            "SELECT c.relname, c.reltuples::bigint, i.inhrelid IS NOT NULL "
            "FROM pg_class c "
            "LEFT JOIN pg_inherits i ON i.inhrelid = c.oid "
            "AND i.inhparent = CAST(:parent AS regclass) "
            "WHERE c.relkind = 'r' AND c.relnamespace = "
            "(SELECT relnamespace FROM pg_class WHERE oid = CAST(:parent AS regclass)) "
            "AND c.relname LIKE 'calls\\_%'"
        ),
        {"parent": PARENT},
    ).all()
    found: list[Partition] = []
    for name, estimate, attached in rows:
        match = _NAME.match(name)
        if match is None or bool(match.group(3)) == bool(attached):
            continue
        period = f"{match.group(1)}-{match.group(2)}"
        found.append(Partition(period, name, bool(attached), int(estimate)))
    return sorted(found, key=lambda p: (p.period, not p.attached))


def _attached(connection: Connection) -> set[str]:
    return {p.period for p in partitions(connection) if p.attached}


def forget(engine: Engine) -> None:
    """Drop what this process knows of `engine`'s partitions (another process detached one)."""
    with _known_lock:
        _known.pop(engine, None)


def ensure(engine: Engine, periods: Iterable[str]) -> list[str]:
    """Make and attach the partitions of `periods` that are missing; the periods made."""
    wanted = set(periods)
    known = _known.get(engine)
    if known is not None and wanted <= known:
        return []
    made: list[str] = []
    with engine.connect() as connection:
        _lock(connection)
        attached = _attached(connection)
        for period in sorted(wanted - attached):
            _make(connection, period)
            made.append(period)
        connection.commit()
    with _known_lock:
        _known[engine] = attached | set(made) | _known.get(engine, set())
    return made


def _lock(connection: Connection) -> None:
    connection.execute(text(f"SET LOCAL lock_timeout = '{lock_timeout}'"))
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


def _bounds(period: str) -> tuple[str, str]:
    month = Period.parse(period)
    return str(month), str(month.next())


def _make(connection: Connection, period: str) -> None:
    name = table_name(period)
    connection.execute(text(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS)"))
    _attach(connection, name, period)


def _attach(connection: Connection, name: str, period: str) -> None:
    low, high = _bounds(period)
    bounds = f"FOR VALUES FROM ('{low}') TO ('{high}')"
    connection.execute(text(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} {bounds}"))


def detach(engine: Engine, period: str) -> Partition:
    """Detach `period`'s partition (kept whole as `calls_YYYY_MM_detached`)."""
    name, archived = table_name(period), table_name(period, detached=True)
    with engine.connect() as connection:
        _lock(connection)
        present = {(p.period, p.attached) for p in partitions(connection)}
        if (period, False) in present:
            raise ConflictError(f"month {period} is detached already (table {archived})")
        if (period, True) not in present:
            raise NotFoundError(f"month {period} has no partition of calls")
        connection.execute(text(f"ALTER TABLE {PARENT} DETACH PARTITION {name}"))
        connection.execute(text(f"ALTER TABLE {name} RENAME TO {archived}"))
        rows = connection.execute(text(f"SELECT COUNT(*) FROM {archived}")).scalar_one()
        connection.commit()
    forget(engine)
    return Partition(period, archived, False, int(rows))


def attach(engine: Engine, period: str) -> Partition:
    """Attach a detached month again. Calls that arrived for it meanwhile (in a partition made
    afresh) are moved into it first, so nothing is lost or counted twice (`call_ids` kept each
    id once)."""
    name, archived = table_name(period), table_name(period, detached=True)
    with engine.connect() as connection:
        _lock(connection)
        present = {(p.period, p.attached) for p in partitions(connection)}
        if (period, False) not in present:
            raise NotFoundError(f"month {period} has no detached partition ({archived})")
        if (period, True) in present:
            connection.execute(text(f"ALTER TABLE {PARENT} DETACH PARTITION {name}"))
            connection.execute(text(f"INSERT INTO {archived} SELECT * FROM {name}"))
            connection.execute(text(f"DROP TABLE {name}"))
        connection.execute(text(f"ALTER TABLE {archived} RENAME TO {name}"))
        _attach(connection, name, period)
        rows = connection.execute(text(f"SELECT COUNT(*) FROM {name}")).scalar_one()
        connection.commit()
    forget(engine)
    return Partition(period, name, True, int(rows))


def month_state(engine: Engine, period: str) -> tuple[list[str], list[str], int]:
    """For the rule on detaching: the agencies with calls in `period`, those of them that
    have closed it, and the month's late calls not billed yet."""
    with engine.connect() as connection:
        agencies = list(
            connection.execute(
                text("SELECT DISTINCT agency_id FROM calls WHERE period = :p ORDER BY 1"),
                {"p": period},
            ).scalars()
        )
        closed = list(
            connection.execute(
                text(
                    "SELECT agency_id FROM period_closes WHERE period = :p "
                    "AND agency_id = ANY(:agencies) ORDER BY 1"
                ),
                {"p": period, "agencies": agencies},
            ).scalars()
        )
        unbilled = connection.execute(
            text(
                "SELECT COUNT(*) FROM calls WHERE period = :p AND late = 1 "
                "AND billed_period IS NULL"
            ),
            {"p": period},
        ).scalar_one()
    return agencies, closed, int(unbilled)


class SqlCallArchive:
    """`CallArchive` over an engine (PostgreSQL partitions; SQLite: `partitioned` False)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.partitioned = engine.dialect.name == "postgresql"

    def months(self) -> list[CallMonth]:
        with self.engine.connect() as connection:
            return [_month(p) for p in partitions(connection)]

    def prepare(self, periods: Iterable[str]) -> list[str]:
        return ensure(self.engine, periods) if self.partitioned else []

    def billing(self, period: str) -> MonthBilling:
        agencies, closed, unbilled = month_state(self.engine, period)
        return MonthBilling(tuple(agencies), tuple(closed), unbilled)

    def detach(self, period: str) -> CallMonth:
        return _month(detach(self.engine, period))

    def attach(self, period: str) -> CallMonth:
        return _month(attach(self.engine, period))


def _month(partition: Partition) -> CallMonth:
    return CallMonth(partition.period, partition.table, partition.attached, partition.rows)
