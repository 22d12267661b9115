"""One odd value in a catalog file, a command's argument or `--db` is one clear error that says
what and where, never a traceback, a hang or a value read as another (review of issue 12's
rule "bad input gets a clear error and loses nothing")."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from rebill.entrypoints.cli.app import app
from tests.e2e.test_scenarios import Cli, catalog

STARTER_FEE = "    monthly_fee: '49.00'\n"


def _catalog_text() -> str:
    text = yaml.safe_dump(catalog(), sort_keys=False)
    assert STARTER_FEE in text
    return text


def _refused(cli: Cli, path: Path) -> str:
    started = time.monotonic()
    result = cli.run("apply", str(path), ok=False)
    assert time.monotonic() - started < 20  # no number is expanded digit by digit
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    return result.output


@pytest.mark.parametrize(
    ("fee", "said"),
    [
        ("010", "base 10"),  # YAML 1.1 reads 010 as 8
        ("0x31", "base 10"),
        ("4_9.00", "decimal number"),
        ("1.0e+999999999", "too large"),
        ("1.0e-999999999", "decimal places"),  # was stored as 0
        ("'٤٩.٠٠'", "decimal number"),  # Arabic-Indic digits were read as 49.00
    ],
)
def test_a_catalog_number_that_reads_as_another_value_is_refused(
    cli: Cli, tmp_path: Path, fee: str, said: str
) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(_catalog_text().replace(STARTER_FEE, f"    monthly_fee: {fee}\n"), "utf-8")
    assert said in _refused(cli, path)
    assert cli.json("apply", str(_good(tmp_path)))  # the store is untouched and still usable


def _good(tmp_path: Path) -> Path:
    path = tmp_path / "good.yaml"
    path.write_text(_catalog_text(), "utf-8")
    return path


def test_odd_catalog_files_are_clear_errors(cli: Cli, tmp_path: Path) -> None:
    text = _catalog_text()
    cases: list[tuple[str, bytes, str]] = [
        ("twice.yaml", text.replace(STARTER_FEE, STARTER_FEE * 2).encode(), "given twice"),
        ("zone.yaml", text.replace("America/New_York", "America").encode(), "unknown timezone"),
        ("long.yaml", text.replace("America/New_York", "A" * 300).encode(), "unknown timezone"),
        ("latin.yaml", text.replace("Bright Dental", "Bright Dental é").encode("latin-1"), "UTF-8"),
        ("deep.yaml", b"agencies: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested"),
        ("self.yaml", b"platform: &p {name: x, wholesale: *p}\n", "nested"),
    ]
    document = catalog()
    document["agencies"][0]["plans"][0]["included_minutes"] = "__HUGE__"
    huge = json.dumps(document).replace('"__HUGE__"', "1e999999999")
    cases.append(("huge.json", huge.encode(), "too large"))
    cases.append(("digits.json", huge.replace("1e999999999", "9" * 5000).encode(), "digits"))
    named = json.dumps(catalog()).replace("Bright Dental", "Bright\\u0000Dental")
    cases.append(("nul.json", named.encode(), "NUL"))  # PostgreSQL cannot store a NUL
    far = text.replace("'2026-09-01T00:00:00-04:00'", "'9999-12-31T00:00:00Z'").encode()
    cases.append(("far.yaml", far, "outside 1970-01-02 to 9998-11-29"))  # no month to bill in
    blank = text.replace("name: Bright Dental", "name: '   '").encode()
    cases.append(("blank.yaml", blank, "visible character"))
    for name, content, said in cases:
        path = tmp_path / name
        path.write_bytes(content)
        assert said in _refused(cli, path), name
    assert cli.json("apply", str(_good(tmp_path)))


def test_markup_in_a_value_is_printed_as_it_is(cli: Cli) -> None:
    """Rich reads "[/x]" as a closing tag: an error naming such a value was a traceback."""
    result = cli.run("close", "--period", "2026-10", "--agency", "[/x]", ok=False)
    assert result.exit_code != 0
    assert "'[/x]'" in result.output
    assert "Traceback" not in result.output


def test_caps_refuse_what_the_catalog_refuses(cli: Cli, tmp_path: Path) -> None:
    cli.apply(catalog())
    for option, value, said in (
        ("--monthly-minutes", "\u00b2", "whole number"),
        ("--monthly-minutes", "9" * 20, "whole number"),
        ("--alerts", "0." + "0" * 29 + "1", "decimal places"),
    ):
        result = cli.run(
            "caps",
            "set",
            "--agency",
            "acme",
            "--sub-account",
            "bright-dental",
            option,
            value,
            ok=False,
        )
        assert result.exit_code != 0, (option, value)
        assert said in result.output
        assert "Traceback" not in result.output
    assert cli.json("apply", str(_good(tmp_path)))  # the sub-account is still updatable


def test_a_database_that_cannot_be_opened_is_one_line(cli: Cli, tmp_path: Path) -> None:
    for url in ("foo://bar", "not a url", f"sqlite:///{tmp_path}/missing/dir/x.db"):
        result = cli.runner.invoke(app, ["invoices", "list", "--db", url])
        assert result.exit_code == 1, url
        assert "cannot open the database" in result.output
        assert "Traceback" not in result.output


def test_a_payment_reference_has_the_apis_limit_everywhere(cli: Cli) -> None:
    cli.apply(catalog())
    buy = ["credits", "add", "--agency", "acme", "--sub-account", "bright-dental"]
    result = cli.run(*buy, "--amount", "10.00", "--reference", "r" * 201, ok=False)
    assert result.exit_code != 0
    assert "longer than 200 characters" in result.output
    assert "Traceback" not in result.output
    done = cli.json(*buy, "--amount", "10.00", "--reference", "r" * 200)
    assert done["balance"] == "10.00"  # the refused one bought nothing
    # a reference this long is kept by its digest (PostgreSQL refused the key: a 500 in the API)
    again = cli.json(*buy, "--amount", "10.00", "--reference", "r" * 200)
    assert (again["receipt"], again["balance"]) == (done["receipt"], "10.00")
