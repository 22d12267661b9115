"""Shared fixtures: a database URL per backend (SQLite always; PostgreSQL when
REBILL_TEST_POSTGRES_URL is set, each test in a schema of its own), a fixed clock, and a cheap
password-hash cost (`TEST_SCRYPT_N`: milliseconds instead of half a second per hash)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from rebill.adapters.db.engine import normalize_url

POSTGRES_ENV = "REBILL_TEST_POSTGRES_URL"
FIXED_NOW = "2026-12-15T12:00:00Z"
# Tests hash at N=2^10 (1 MiB); the standard cost is 2^17. Settings built directly pass it as
# `scrypt_n=TEST_SCRYPT_N`; commands read it from REBILL_SCRYPT_N (set below for every test).
TEST_SCRYPT_N = 2**10


def _postgres_url() -> str | None:
    return os.environ.get(POSTGRES_ENV)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'rebill.db'}"
        return
    base = _postgres_url()
    if not base:
        pytest.skip(
            f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test)"
        )
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalize_url(base))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    yield f"{normalize_url(base)}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'rebill.db'}"


@pytest.fixture(autouse=True)
def fixed_now(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("REBILL_NOW", FIXED_NOW)
    monkeypatch.setenv("REBILL_SCRYPT_N", str(TEST_SCRYPT_N))
    monkeypatch.delenv("REBILL_DATABASE_URL", raising=False)
    return FIXED_NOW


@pytest.fixture(autouse=True)
def dispose_engines(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every engine a test's composition roots made is disposed after it: a pool left to the
    garbage collector keeps its idle PostgreSQL connections open for the rest of the run (a
    worker held 25 after a while, and parallel runs exhausted the server's 100)."""
    import rebill.adapters.db.engine as engines

    made: list[Engine] = []
    create = engines.create_engine

    def tracked(*args: Any, **kwargs: Any) -> Engine:
        engine = create(*args, **kwargs)
        made.append(engine)
        return engine

    monkeypatch.setattr(engines, "create_engine", tracked)
    yield
    for engine in made:
        engine.dispose()
