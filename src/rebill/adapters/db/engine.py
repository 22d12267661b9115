"""Engines for SQLite (the embedded default) and PostgreSQL, and the automatic migration to the
newest schema on first use (Alembic, the same migrations on both backends). Alembic is imported
only when a migration must run: the check on start-up is one query of the stored revision."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"  # Alembic's default, which env.py keeps
# `revision: str = "0007"` and `down_revision: ... = "0006"` (or a tuple of them, a merge).
_REVISION = re.compile(r"^revision\b[^=\n]*=(.*)$", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\b[^=\n]*=(.*)$", re.MULTILINE)
_QUOTED = re.compile(r"[\"']([^\"']+)[\"']")


def normalize_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here (the driver rebill installs)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={writing_busy_ms}")
    cursor.close()
    # Let SQLAlchemy's "begin" event open transactions (below) instead of pysqlite.
    dbapi_connection.isolation_level = None


# Set (by `reading`) around work that only reads, or writes rarely (an authorization, a key
# lookup): on SQLite its transactions begin deferred and read the committed state beside a
# writer (WAL) instead of queuing behind it for the write lock; the rare write it then makes
# waits at most `reading_busy_ms` (then fails: the API answers 503 with Retry-After).
_reading: ContextVar[bool] = ContextVar("rebill_sqlite_reading", default=False)
reading_busy_ms = 250
writing_busy_ms = 30000


@contextmanager
def reading() -> Iterator[None]:
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def _sqlite_begin(connection: Any) -> None:
    """Every transaction takes SQLite's write lock up front (BEGIN IMMEDIATE): one writer at a
    time, so a read-then-write (a wallet debit) can never interleave with another's. Inside
    `reading`, a deferred BEGIN with a short busy timeout instead. Both are sent on the
    driver's connection, not through SQLAlchemy's statement path (a tenth of a single call's
    CPU, issue 13); a failure is raised as SQLAlchemy would have wrapped it (a lock not granted
    in time is its OperationalError: the API's 503)."""
    reads = _reading.get()
    pooled = connection.connection
    info = pooled.info
    driver = pooled.driver_connection
    busy = reading_busy_ms if reads else writing_busy_ms
    statement = "BEGIN" if reads else "BEGIN IMMEDIATE"
    try:
        if info.get("busy_ms", writing_busy_ms) != busy:
            info["busy_ms"] = None
            driver.execute(f"PRAGMA busy_timeout={busy}")
            info["busy_ms"] = busy
        driver.execute(statement)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # Connections are recycled hourly rather than pinged on every checkout (a round trip).
    return create_engine(url, pool_recycle=3600, pool_size=10, max_overflow=20)


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


@cache
def head_revision() -> str:
    """The newest migration's revision, read from the migration files' text (the one revision
    no other names as its `down_revision`) without importing Alembic. A branched history has
    no single head: that is a programmer error."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision = _REVISION.search(source)
        assert revision is not None, f"{path.name}: no revision"
        revisions.update(_QUOTED.findall(revision.group(1)))
        for down_revision in _DOWN_REVISION.findall(source):
            parents.update(_QUOTED.findall(down_revision))
    heads = revisions - parents
    assert len(heads) == 1, f"migrations need exactly one head, found {sorted(heads)}"
    return heads.pop()


def stored_revisions(engine: Engine) -> list[str]:
    """The revisions the database records in Alembic's version table (none when new): one
    query, in a reading transaction (on SQLite it does not queue behind a writer). Only when
    it fails is the table looked for, so that a new database reads as none and any other
    failure (a lost connection, a denied table) is raised as it is."""
    with reading(), engine.connect() as connection:
        try:
            rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
            return [str(version) for version in rows.scalars()]
        except DBAPIError:
            connection.rollback()  # PostgreSQL refuses any query in a failed transaction
            if inspect(connection).has_table(VERSION_TABLE):
                raise
            return []


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision unless it is there already."""
    if stored_revisions(engine) == [head_revision()]:
        return
    from alembic import command

    command.upgrade(alembic_config(engine), "head")
