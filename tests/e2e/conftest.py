"""The end-to-end tests' `rebill` command line against the test's database."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_scenarios import Cli


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`rebill` on `db_url` (each command given `--db`); a REBILL_DATABASE_URL set in the
    environment is never in the way."""
    monkeypatch.delenv("REBILL_DATABASE_URL", raising=False)
    return Cli(db_url, tmp_path)
