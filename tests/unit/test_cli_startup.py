"""The command line loads only what a command uses (issue 16): `rebill --help` and the read
commands import neither the PDF renderer, the Stripe SDK, the web stack nor Alembic; the two
quick reads (`usage summary`, `invoices list`) import no ORM, and with `--json` no Rich
console; `--help` imports no command module, no database library and no pydantic; a command
imports its own module of `commands/` and no other; and the Rich help, with its Markdown and
traceback modules deferred, prints what Typer's own prints. Each command runs in a fresh
interpreter, whose `sys.modules` is then read; the time it takes is measured by
`bench/cli_startup.py`, never asserted here."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rebill.bootstrap import build
from rebill.config import Settings
from rebill.demo.data import AGENCY, demo_calls, demo_catalog
from rebill.domain.period import Period
from rebill.entrypoints.cli.app import COMMANDS, RootGroup
from rebill.services.catalog.apply import apply_catalog
from rebill.services.invoicing.close import close_period
from rebill.services.usage.import_file import import_usage

NOW = datetime(2026, 12, 15, 12, tzinfo=UTC)  # conftest's REBILL_NOW
PERIOD = Period(2026, 11)
CALLS_MAX = 60
subprocess_timeout_seconds = 120

# Loaded only by the commands that need them: invoices pdf, the gateway commands with a Stripe
# key, serve and demo --serve, and a database whose schema is behind.
HEAVY = ["fpdf", "stripe", "fastapi", "starlette", "uvicorn", "jinja2", "alembic"]
# Never for --help: the database, the settings, pydantic (Typer coerces `str` and `bool`
# options through it unless rebill's `lazy.PlainParam` does), and what `rich_help` defers.
NOT_FOR_HELP = [
    "sqlalchemy",
    "pydantic",
    "rebill.bootstrap",
    "rebill.config",
    "rich.markdown",
    "rich.traceback",
    "markdown_it",
    "pygments",
]
COMMAND_MODULES = sorted({f"{RootGroup.package}.{e.module}" for e in COMMANDS.values()})

# Runs one command in this interpreter and writes the heavy modules it loaded to a file, at
# exit (the command ends in SystemExit).
PROBE = """
import atexit, json, os, sys

watched, report = json.loads(sys.argv[1]), sys.argv[2]


def write_loaded() -> None:
    with open(report, "w", encoding="utf-8") as file:
        json.dump(sorted(name for name in watched if name in sys.modules), file)


atexit.register(write_loaded)
sys.argv = ["rebill", *sys.argv[3:]]
if os.environ.get("PROBE_TYPER_RICH_UTILS"):  # Typer's help as Typer loads it
    import typer.rich_utils
from rebill.entrypoints.cli.app import main

main()
"""


def run_cli(
    tmp_path: Path, watched: list[str], *args: str, typer_rich_utils: bool = False
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    report = tmp_path / "loaded.json"
    report.unlink(missing_ok=True)
    env = {**os.environ, "COLUMNS": "200"}  # table cells unclipped
    if typer_rich_utils:
        env["PROBE_TYPER_RICH_UTILS"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(watched), str(report), *args],
        capture_output=True,
        text=True,
        timeout=subprocess_timeout_seconds,
        check=False,
        env=env,
    )
    loaded: list[str] = json.loads(report.read_text(encoding="utf-8"))
    return done, loaded


@pytest.fixture
def billed_db(tmp_path: Path) -> str:
    """A migrated SQLite database with the demo catalog, a few calls and the month closed."""
    url = f"sqlite:///{tmp_path / 'rebill.db'}"
    app = build(Settings(database_url=url, now=NOW))
    apply_catalog(app.uow, demo_catalog(PERIOD), "demo catalog", NOW)
    calls = itertools.islice(demo_calls(PERIOD), CALLS_MAX)
    import_usage(app.uow, AGENCY, enumerate(calls, start=1), "demo calls", NOW)
    close_period(app.uow, PERIOD, None, NOW, app.gateway)
    app.dispose()
    return url


def test_help_loads_no_command_no_database_and_no_pydantic(tmp_path: Path) -> None:
    done, loaded = run_cli(tmp_path, [*HEAVY, *NOT_FOR_HELP, *COMMAND_MODULES], "--help")
    assert done.returncode == 0, done.stderr
    assert "usage" in done.stdout and "invoices" in done.stdout
    assert loaded == []


def test_a_command_group_help_loads_its_module_alone(tmp_path: Path) -> None:
    watched = [*HEAVY, *NOT_FOR_HELP, *COMMAND_MODULES]
    done, loaded = run_cli(tmp_path, watched, "invoices", "--help")
    assert done.returncode == 0, done.stderr
    assert "charge" in done.stdout
    assert loaded == [f"{RootGroup.package}.invoices"]


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        [],  # no command: the help, exit status 2
        ["invoices", "--help"],
        ["usage", "summary", "--help"],
        ["nosuch"],  # the error panel, with "Did you mean"
        ["invoice"],
        ["usage", "summary", "--agency"],
    ],
)
def test_the_help_and_usage_errors_are_typers_own(tmp_path: Path, args: list[str]) -> None:
    """`rich_help` defers rich.markdown and rich.traceback: the output does not change."""
    deferred, loaded = run_cli(tmp_path, ["rich.markdown", "rich.traceback"], *args)
    typers, _ = run_cli(tmp_path, [], *args, typer_rich_utils=True)
    assert (deferred.returncode, deferred.stdout, deferred.stderr) == (
        typers.returncode,
        typers.stdout,
        typers.stderr,
    )
    assert deferred.stdout or deferred.stderr
    assert loaded == []


def test_an_unexpected_error_still_shows_the_rich_traceback(tmp_path: Path, billed_db: str) -> None:
    """The deferred `Traceback` loads the real one when Typer's exception hook asks. (A
    database that cannot be opened is a one-line error now: the unexpected error here is a
    table gone from a database whose schema says it is current.)"""
    with sqlite3.connect(billed_db.removeprefix("sqlite:///")) as connection:
        connection.execute("DROP TABLE invoice_lines")
        connection.execute("DROP TABLE invoices")
    args = ("invoices", "list", "--db", billed_db)
    deferred, loaded = run_cli(tmp_path, ["rich.traceback"], *args)
    typers, _ = run_cli(tmp_path, [], *args, typer_rich_utils=True)
    assert deferred.returncode == typers.returncode == 1
    assert "Traceback (most recent call last)" in deferred.stderr
    assert "OperationalError" in deferred.stderr
    assert deferred.stderr == typers.stderr
    assert loaded == ["rich.traceback"]


# A read loads its command's module, the database and Rich's tables; nothing heavy, no
# pydantic, no other command module; and no ORM: the two reads go through SQLAlchemy Core
# (`services.views.listing`), without the mappers, the declarative rows, the repositories,
# the unit of work or the ports package that imports them all.
ORM = [
    "sqlalchemy.orm",
    "rebill.adapters.db.rows",
    "rebill.adapters.db.repositories",
    "rebill.adapters.db.unit_of_work",
    "rebill.services.ports",
]
READ_WATCHED = [*HEAVY, *ORM, "pydantic", "rich.markdown", "rich.traceback", *COMMAND_MODULES]


def test_usage_summary_reads_without_the_heavy_modules(tmp_path: Path, billed_db: str) -> None:
    done, loaded = run_cli(
        tmp_path,
        READ_WATCHED,
        *("usage", "summary", "--agency", AGENCY, "--period", str(PERIOD), "--db", billed_db),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["period"] == str(PERIOD) and summary["status"] == "closed"
    assert len(summary["sub_accounts"]) == 12
    assert loaded == [f"{RootGroup.package}.usage"]


def test_invoices_list_reads_without_the_heavy_modules(tmp_path: Path, billed_db: str) -> None:
    done, loaded = run_cli(tmp_path, READ_WATCHED, "invoices", "list", "--db", billed_db)
    assert done.returncode == 0, done.stderr
    assert "ACME-" in done.stdout and "wholesale" in done.stdout
    assert loaded == [f"{RootGroup.package}.invoices"]


@pytest.mark.parametrize(
    ("args", "module"),
    [
        (["usage", "summary", "--agency", AGENCY, "--period", str(PERIOD)], "usage"),
        (["usage", "summary", "--agency", AGENCY, "--period", str(PERIOD.next())], "usage"),
        (
            ["usage", "summary", "--agency", AGENCY, "--period", str(PERIOD.next()), "--json"],
            "usage",
        ),
        (["invoices", "list", "--agency", AGENCY, "--period", str(PERIOD), "--json"], "invoices"),
        (["invoices", "list", "--agency", "nosuch"], "invoices"),
    ],
    ids=["closed", "open", "open-json", "filtered-json", "refused"],
)
def test_the_quick_reads_load_no_orm(
    tmp_path: Path, billed_db: str, args: list[str], module: str
) -> None:
    """Closed and open months (stored and live summaries), tables and JSON, and a refusal."""
    done, loaded = run_cli(tmp_path, READ_WATCHED, *args, "--db", billed_db)
    assert done.returncode == (4 if "nosuch" in args else 0), done.stderr
    assert done.stdout or "does not exist" in done.stderr
    assert loaded == [f"{RootGroup.package}.{module}"]


@pytest.mark.parametrize(
    "args",
    [
        ["usage", "summary", "--agency", AGENCY, "--period", str(PERIOD), "--json"],
        ["invoices", "list", "--json"],
    ],
    ids=["summary", "list"],
)
def test_a_json_read_loads_no_rich_console(tmp_path: Path, billed_db: str, args: list[str]) -> None:
    """`common.out` and `err` are made when first printed to: JSON goes to stdout without."""
    done, loaded = run_cli(tmp_path, ["rich.console", "rich.table"], *args, "--db", billed_db)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)
    assert loaded == []


def test_the_campaign_summary_still_reads_through_the_orm(tmp_path: Path, billed_db: str) -> None:
    """The probe sees the ORM when a command loads it (`--by campaign` reads through the
    unit of work): the assertions above can fail."""
    args = ("usage", "summary", "--agency", AGENCY, "--period", str(PERIOD), "--by", "campaign")
    done, loaded = run_cli(tmp_path, ORM, *args, "--db", billed_db)
    assert done.returncode == 0, done.stderr
    assert loaded == sorted(ORM)


def test_a_read_closes_the_database_before_the_quick_exit(tmp_path: Path, billed_db: str) -> None:
    """`main` skips collecting objects at exit (`gc.freeze`): the command's connections are
    closed before, so SQLite folds its write-ahead log back and removes it."""
    wal = tmp_path / "rebill.db-wal"
    done, _ = run_cli(tmp_path, [], "invoices", "list", "--db", billed_db)
    assert done.returncode == 0, done.stderr
    assert billed_db.endswith("rebill.db") and not wal.exists()


def test_a_database_behind_the_newest_schema_is_migrated(tmp_path: Path) -> None:
    """The other side of the cheap check: a new database has no stored revision, so the
    command loads Alembic and migrates it before it reads."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    done, loaded = run_cli(tmp_path, HEAVY, "invoices", "list", "--db", url, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"data": []}
    assert loaded == ["alembic"]
