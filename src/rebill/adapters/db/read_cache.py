"""A per-process cache of what every call reads and almost nothing writes: API keys, agencies,
plans and each sub-account's plan history, sub-accounts, the wholesale card and the closed
periods (issue 13).

It is right across processes by one rule: every change of those tables, by rebill or by
anyone with SQL, bumps the one row of `cache_version` in the same transaction (triggers,
migration 0015). A transaction that reads through the cache first reads that version (one
indexed row); a version other than the cache's empties the cache. A transaction that has
itself written one of the tables reads past the cache until it ends (it must see its own
writes), and what a transaction loads is kept only under the version it read before loading,
so an older state can never be kept under a newer version.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

# The tables whose rows the cache holds (each has the triggers of `trigger_sql`).
CACHED_TABLES = (
    "platform",
    "agencies",
    "api_keys",
    "plans",
    "plan_voice_rates",
    "subscriptions",
    "sub_accounts",
    "wholesale_voice_rates",
    "wholesale_number_prices",
    "period_closes",
    "wholesale_schedule",
)
_CACHED = frozenset(CACHED_TABLES)
VERSION_TABLE = "cache_version"
_VERSION_SQL = f"SELECT version FROM {VERSION_TABLE} WHERE id = 1"
SESSION_KEY = "rebill_read_cache"
_CHECKED = "rebill_cache_checked"  # the version this transaction read (connection info)
_DIRTY = "rebill_cache_dirty"  # this transaction wrote a cached table
_MISSING = object()
T = TypeVar("T")


class ReadCache:
    """Values by key, all of one version of the cached tables."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: int | None = None
        self._values: dict[Hashable, Any] = {}

    def observe(self, version: int) -> None:
        """The version a transaction read: another one empties the cache."""
        if version != self._version:
            with self._lock:
                if version != self._version:
                    self._values = {}
                    self._version = version

    def get(self, key: Hashable, version: int) -> Any:
        values = self._values
        return values.get(key, _MISSING) if version == self._version else _MISSING

    def put(self, key: Hashable, value: Any, version: int) -> None:
        with self._lock:
            if version == self._version:
                self._values[key] = value

    def clear(self) -> None:
        with self._lock:
            self._values = {}
            self._version = None

    def __len__(self) -> int:
        return len(self._values)


_caches: weakref.WeakKeyDictionary[Engine, ReadCache] = weakref.WeakKeyDictionary()


def cache_of(engine: Engine) -> ReadCache:
    """The engine's one cache (its listeners installed on first use)."""
    cache = _caches.get(engine)
    if cache is None:
        cache = _caches[engine] = ReadCache()
        watch(engine)
    return cache


def cached(session: Session, key: Hashable, load: Callable[[], T]) -> T:
    """`load()`, or what it gave before under the same version of the cached tables."""
    cache: ReadCache | None = session.info.get(SESSION_KEY)
    if cache is None:
        return load()
    if session.autoflush:  # as a query would: this transaction's pending writes first
        session.flush()
    connection = session.connection()
    info = connection.info
    if info.get(_DIRTY):
        return load()
    version = info.get(_CHECKED)
    if version is None:
        found = _stored_version(connection)
        if found is None:  # no version row (a schema older than 0015): no caching
            return load()
        version = info[_CHECKED] = int(found)
        cache.observe(version)
    value = cache.get(key, version)
    if value is _MISSING:
        value = load()
        cache.put(key, value, version)
    return value  # type: ignore[no-any-return]


def _stored_version(connection: Connection) -> Any:
    """The version row, read on the driver's cursor: SQLAlchemy's statement path costs 4-6
    times the read itself, once per transaction of every call (issue 13). A failure is raised
    as that path would have raised it: wrapped by SQLAlchemy, and a lost connection
    invalidated (so the pool drops it and the API answers 503)."""
    dbapi = connection.dialect.loaded_dbapi
    driver = connection.connection.dbapi_connection
    assert driver is not None, "an open transaction has its driver's connection"
    cursor = None
    try:
        cursor = driver.cursor()
        cursor.execute(_VERSION_SQL)
        row = cursor.fetchone()
    except dbapi.Error as exc:
        lost = connection.dialect.is_disconnect(exc, driver, cursor)
        if lost:
            connection.invalidate(exc)
        raise DBAPIError.instance(
            _VERSION_SQL, None, exc, dbapi.Error, connection_invalidated=lost
        ) from exc
    finally:
        if cursor is not None:
            with contextlib.suppress(dbapi.Error):
                cursor.close()
    return None if row is None else row[0]


def caching(session: Session) -> bool:
    """Would `cached` read through the cache now? Not without one, nor in a transaction that
    has written a cached table (a repository then loads only the rows it is asked for, not
    the whole set it would cache: a catalog apply writing a thousand sub-accounts must not
    read all of them back for each one)."""
    if session.info.get(SESSION_KEY) is None:
        return False
    if session.autoflush:
        session.flush()
    return not session.connection().info.get(_DIRTY)


def _table_written(statement: str) -> str | None:
    """The table an INSERT, UPDATE or DELETE statement writes (None for anything else)."""
    head = statement.lstrip()[:7].upper()
    if head.startswith("INSERT"):
        words = statement.split(None, 3)  # INSERT INTO name ...
    elif head.startswith("UPDATE"):
        words = statement.split(None, 2)  # UPDATE name SET ...
        words.insert(1, "")
    elif head.startswith("DELETE"):
        words = statement.split(None, 3)  # DELETE FROM name ...
    else:
        return None
    if len(words) < 3:
        return None
    return words[2].strip('"').split("(")[0].split(".")[-1].strip('"').lower()


def watch(engine: Engine) -> None:
    """Track, per connection and transaction, the version read and whether a cached table was
    written."""

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        info = connection.info
        info.pop(_CHECKED, None)
        info.pop(_DIRTY, None)

    @event.listens_for(engine, "before_cursor_execute")
    def _written(
        connection: Connection,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        _context: Any,
        _executemany: bool,
    ) -> None:
        if statement[:1] in "IUDiud" and _table_written(statement) in _CACHED:
            connection.info[_DIRTY] = True


def trigger_sql(dialect: str, tables: tuple[str, ...] = CACHED_TABLES) -> list[str]:
    """The statements that make every change of a cached table bump the version (PostgreSQL:
    once per statement; SQLite: once per row). A migration that rebuilds one of these tables
    (SQLite batch mode) runs them again (`tests` check that every table has them)."""
    bump = f"UPDATE {VERSION_TABLE} SET version = version + 1 WHERE id = 1"
    if dialect == "postgresql":
        statements = [
            "CREATE OR REPLACE FUNCTION rebill_bump_cache_version() RETURNS trigger"
            f" LANGUAGE plpgsql AS $$ BEGIN {bump}; RETURN NULL; END $$"
        ]
        for table in tables:
            statements += [
                f"DROP TRIGGER IF EXISTS bump_cache_version ON {table}",
                f"CREATE TRIGGER bump_cache_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
                f" ON {table} FOR EACH STATEMENT EXECUTE FUNCTION rebill_bump_cache_version()",
            ]
        return statements
    statements = []
    for table in tables:
        for action in ("INSERT", "UPDATE", "DELETE"):
            name = f"bump_cache_version_{table}_{action.lower()}"
            statements += [
                f"DROP TRIGGER IF EXISTS {name}",
                f"CREATE TRIGGER {name} AFTER {action} ON {table} BEGIN {bump}; END",
            ]
    return statements
