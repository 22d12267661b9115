"""`rebill demo`: a closed month with both invoice levels and profit, on a fresh database."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rebill.entrypoints.cli.app import app


def test_demo_closes_a_month(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["demo", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["period"] == "2026-11"  # the month before the fixed clock's
    assert document["calls"] > 20_000
    (agency,) = document["agencies"]
    assert len(agency["retail_invoices"]) == 12
    profit = agency["profit"]
    assert Decimal(profit["profit"]) == Decimal(profit["revenue"]) - Decimal(profit["cost"])
    assert Decimal(profit["cost"]) == Decimal(agency["wholesale_invoice"]["total"])
    assert Decimal(profit["profit"]) > 0
    assert (tmp_path / "rebill-demo.db").exists()
    # The summary reads the same month back from the demo database.
    listed = CliRunner().invoke(
        app, ["invoices", "list", "--json", "--db", "sqlite:///rebill-demo.db"]
    )
    kinds = {i["kind"] for i in json.loads(listed.stdout)["data"]}
    assert kinds == {"retail", "wholesale", "receipt"}


def test_demo_refuses_a_database_with_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'other.db'}"
    assert CliRunner().invoke(app, ["demo", "--db", url, "--json"]).exit_code == 0
    again = CliRunner().invoke(app, ["demo", "--db", url])
    assert again.exit_code == 1
    assert "empty database" in again.output
