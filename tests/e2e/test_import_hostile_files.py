"""A usage file with broken bytes, over-long lines and over-long or huge fields keeps every good
row on both stores: each bad line is one rejection with its line number (issue 12, item 5)."""

from __future__ import annotations

import json
from pathlib import Path

from rebill.services.usage.import_file import line_bytes_max
from tests.e2e.test_scenarios import Cli, catalog, fixed_clock, retail, usage_minutes

__all__ = ["fixed_clock"]  # a fixture, used by name (`cli` is conftest's)

HEADER = b"call_id,sub_account,started_at,duration_seconds,direction,campaign_id\n"


def good(n: int) -> bytes:
    return f"ok-{n},bright-dental,2026-10-05T10:{n:02d}:00-04:00,60,outbound,\n".encode()


def _import(cli: Cli, file: Path) -> dict[str, object]:
    result = cli.run("usage", "import", str(file), "--agency", "acme", "--json")
    report: dict[str, object] = json.loads(result.stdout)
    return report


def _rejected_at(report: dict[str, object]) -> list[tuple[str, str]]:
    rejections = report["rejections"]
    assert isinstance(rejections, list)
    return [(str(r["location"]).rsplit(":", 1)[1], r["field"]) for r in rejections]


def test_broken_bytes_and_long_lines_in_csv_keep_the_good_rows(cli: Cli, tmp_path: Path) -> None:
    cli.apply(catalog())
    file = tmp_path / "calls.csv"
    lines = [
        b"\xef\xbb\xbf" + HEADER,  # 1: a byte-order mark before the header is fine
        good(1),  # 2
        b"bad-\xff\xfe,bright-dental,2026-10-05T10:00:00-04:00,60,outbound,\n",  # 3
        b"\xef\xbb\xbf" + good(2),  # 4: a byte-order mark where two files were joined
        b"long," + b"x" * 2_000_000 + b",2026-10-05T10:00:00Z,60,outbound,\n",  # 5
        good(3),  # 6
        b"field,bright-dental,2026-10-05T10:00:00Z,60,outbound," + b"c" * 500 + b"\n",  # 7
        b"dur,bright-dental,2026-10-05T10:00:00Z," + b"9" * 5000 + b",outbound,\n",  # 8
        good(4),  # 9
        b'"quoted, id",bright-dental,2026-10-05T10:30:00-04:00,60,outbound,\n',  # 10
        "sup,bright-dental,2026-10-05T10:00:00Z,\u00b2,outbound,\n".encode(),  # 11: a digit?
        b"twice,bright-dental,2026-10-05T10:00:00Z,--5,outbound,\n",  # 12
        b"cr,bright-dental,2026-10-05T10:00:00Z,6\r0,outbound,\n",  # 13: a stray carriage return
        b"end,bright-dental,9999-12-31T23:59:59-01:00,60,outbound,\n",  # 14: no UTC instant
        b"old,bright-dental,1969-12-31T23:59:59Z,60,outbound,\n",  # 15: before 1970
        b'"open,bright-dental,2026-10-05T10:00:00Z,60,outbound,\n',  # 16: a quote left open
        b'half",bright-dental,2026-10-05T10:00:00Z,60,outbound,\n',  # 17: ... closed here
        b"nul\0,bright-dental,2026-10-05T10:00:00Z,60,outbound,\n",  # 18
        good(5).rstrip(b"\n"),  # 19, no final newline
    ]
    file.write_bytes(b"".join(lines))
    report = _import(cli, file)
    assert (report["imported"], report["rejected"]) == (6, 12)
    assert _rejected_at(report) == [
        ("3", "row"),
        ("5", "row"),
        ("7", "campaign_id"),
        ("8", "duration_seconds"),
        ("11", "duration_seconds"),
        ("12", "duration_seconds"),
        ("13", "row"),
        ("14", "started_at"),
        ("15", "started_at"),
        ("16", "row"),
        ("17", "row"),
        ("18", "call_id"),
    ]
    messages = [str(r["message"]) for r in report["rejections"]]  # type: ignore[attr-defined]
    assert "UTF-8" in messages[0]
    assert f"longer than {line_bytes_max} bytes" in messages[1]
    assert len(messages[3]) < 200  # a 5,000-digit value is not echoed whole
    # nothing half-written: a second run finds the six good rows stored once
    again = _import(cli, file)
    assert (again["imported"], again["duplicates"], again["rejected"]) == (0, 6, 12)
    plain = tmp_path / "plain.csv"  # line 4's id is ok-2, its byte-order mark not kept in it
    plain.write_bytes(HEADER + good(2))
    assert _import(cli, plain)["duplicates"] == 1
    document = cli.close("2026-10")
    assert usage_minutes(retail(document))[0] == "6.000"


def test_broken_json_lines_keep_the_good_rows(cli: Cli, tmp_path: Path) -> None:
    cli.apply(catalog())

    def line(call_id: str, **extra: object) -> bytes:
        record = {
            "call_id": call_id,
            "sub_account": "bright-dental",
            "started_at": "2026-10-07T10:00:00Z",
            "duration_seconds": 30,
            "direction": "inbound",
            **extra,
        }
        return json.dumps(record).encode() + b"\n"

    file = tmp_path / "calls.jsonl"
    lines = [
        line("j-1"),  # 1
        b'{"call_id": "j-\xc3\x28"}\n',  # 2: invalid UTF-8
        line("j-2", note="y" * (line_bytes_max + 10)),  # 3: over-long line
        b"[" * 100_000 + b"\n",  # 4: nested too deeply (and over-long)
        line("j-3").replace(b"30", b"1e999999999"),  # 5: a huge number
        line("j-4", duration_seconds=10**50),  # 6: an integer beyond any duration
        b"[[[[[[[[[[" * 200 + b"\n",  # 7: nested too deeply, short
        line("j-5"),  # 8
        line("j-\ud800"),  # 9: a lone surrogate (JSON can write one; no database stores it)
        line("j-6", status="ok\u0000"),  # 10: a NUL
        line("j-7", duration_seconds=True),  # 11: not 1 second
        line("j-8", started_at="9998-12-15T00:00:00Z"),  # 12: its month has no next one
    ]
    file.write_bytes(b"".join(lines))
    report = _import(cli, file)
    assert report["imported"] == 2
    assert _rejected_at(report)[6:] == [
        ("9", "call_id"),
        ("10", "status"),
        ("11", "duration_seconds"),
        ("12", "started_at"),
    ]
    assert [at for at, _ in _rejected_at(report)][:6] == ["2", "3", "4", "5", "6", "7"]
    again = _import(cli, file)
    assert (again["imported"], again["duplicates"]) == (0, 2)


def test_a_header_that_cannot_be_read_is_one_clear_error(cli: Cli, tmp_path: Path) -> None:
    """A header with a quote left open, or naming a column twice (which value would count?),
    stops the import before any row with the header's problem, not a traceback."""
    cli.apply(catalog())
    file = tmp_path / "calls.csv"
    cases = [
        (b'"call_id,sub_account,started_at,duration_seconds,direction\n', "is not a CSV row"),
        (
            b"call_id,sub_account,started_at,duration_seconds,direction,call_id\n",
            "names call_id more than once",
        ),
    ]
    for header, expected in cases:
        file.write_bytes(header + good(1))
        result = cli.run("usage", "import", str(file), "--agency", "acme", ok=False)
        assert result.exit_code != 0
        assert expected in result.output
        assert "Traceback" not in result.output
    file.write_bytes(HEADER + good(1))  # nothing was stored by the refused files
    assert _import(cli, file)["imported"] == 1
