"""SQLite's transactions begin on the driver's connection (`engine._sqlite_begin`): a write lock
not granted in time is still SQLAlchemy's OperationalError (the API's 503 with Retry-After),
and the connection works again once the lock is free."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import exc

from rebill.adapters.db import engine as engine_module
from rebill.adapters.db.engine import make_engine, reading
from rebill.entrypoints.api.errors import database_unavailable


def test_a_write_lock_not_granted_in_time_is_a_database_unavailable_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "writing_busy_ms", 200)
    path = tmp_path / "locked.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        # BEGIN IMMEDIATE waits 200 ms, then fails
        with pytest.raises(exc.OperationalError) as raised, engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO t VALUES (1)")
        assert time.monotonic() - started < 5
        assert database_unavailable(raised.value)
        assert "locked" in str(raised.value)
        with reading(), engine.begin() as connection:  # a reader is not held up
            assert connection.exec_driver_sql("SELECT COUNT(*) FROM t").scalar() == 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with engine.begin() as connection:  # the lock is free: the same pool writes again
        connection.exec_driver_sql("INSERT INTO t VALUES (2)")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT x FROM t").scalars().all() == [2]
    engine.dispose()
