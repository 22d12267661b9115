"""Engines for SQLite (the embedded default) and PostgreSQL, and the automatic migration to the
newest schema on first use (Alembic, the same migrations on both backends)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

MIGRATIONS = Path(__file__).parent / "migrations"


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
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    # Let SQLAlchemy's "begin" event open transactions (below) instead of pysqlite.
    dbapi_connection.isolation_level = None


def _sqlite_begin(connection: Any) -> None:
    """Every transaction takes SQLite's write lock up front (BEGIN IMMEDIATE): one writer at a
    time, so a read-then-write (a wallet debit) can never interleave with another's."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


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
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision unless it is there already."""
    config = alembic_config(engine)
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current != head:
        command.upgrade(config, "head")
