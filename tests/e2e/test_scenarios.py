"""End-to-end billing scenarios driven through the `rebill` CLI.

Every test writes a catalog (YAML) and a usage file, runs `apply`, `usage import`, optionally
`credits add`, then `close --period YYYY-MM --json`, and compares the documents with numbers
worked out BY HAND from the billing model (shared spec BILLING_MODEL.md; the arithmetic is in the
comment beside each expected number, the way §12 of that page does it).

Conventions used throughout (BILLING_MODEL §12 unless a test says otherwise):

- platform wholesale: outbound 0.09/min, inbound 0.07/min, both `1/1`; local number 1.15/month,
  toll-free 2.15/month; agency fee 0.00.
- agency `acme`, America/New_York, prefix ACME, tax none.
- plan `starter`: 49.00/month, 200 included minutes (12,000 s), postpaid, outbound 0.25/min and
  inbound 0.20/min at `60/6`, 1 included number, local 3.00/month, toll-free 5.00/month.
- October 2026 in New York = [2026-10-01T04:00Z, 2026-11-01T04:00Z) = 31 days = 2,678,400 s.
- the clock (`REBILL_NOW`) is 2026-12-15T12:00:00Z, so October and November can be closed.

Line tuples below are (code, quantity, unit_price, amount).
"""

from __future__ import annotations

import copy
import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from rebill.entrypoints.cli.app import app

NOW = "2026-12-15T12:00:00Z"

Line = tuple[str, str, str | None, str]


# ---------------------------------------------------------------------------------------------
# fixtures and helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REBILL_NOW", NOW)
    monkeypatch.delenv("REBILL_DATABASE_URL", raising=False)


class Cli:
    """Runs `rebill` commands against one database."""

    def __init__(self, db: str, folder: Path) -> None:
        self.db = db
        self.folder = folder
        self.runner = CliRunner()

    def run(self, *args: str, ok: bool = True) -> Result:
        result = self.runner.invoke(app, [*args, "--db", self.db], catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, (
                f"rebill {' '.join(args)} exited {result.exit_code}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def apply(self, catalog: dict[str, Any], name: str = "catalog.yaml") -> Any:
        path = self.folder / name
        path.write_text(yaml.safe_dump(catalog, sort_keys=False), encoding="utf-8")
        return self.json("apply", str(path))

    def import_calls(
        self, rows: list[tuple[Any, ...]], agency: str = "acme", name: str = "calls.csv"
    ) -> Any:
        path = write_calls(self.folder / name, rows)
        return self.json("usage", "import", str(path), "--agency", agency)

    def close(self, period: str, agency: str | None = None) -> Any:
        args = ["close", "--period", period]
        if agency:
            args += ["--agency", agency]
        return self.json(*args)

    def receipts(self, agency: str = "acme") -> list[tuple[str, str, str]]:
        """(number, first line code, total) of every receipt, oldest first."""
        data = self.json("invoices", "list", "--agency", agency)["data"]
        return [
            (i["number"], i["lines"][0]["code"], i["total"]) for i in data if i["kind"] == "receipt"
        ]


def write_calls(path: Path, rows: list[tuple[Any, ...]]) -> Path:
    """rows: (call_id, sub_account, started_at, duration_seconds, direction[, campaign_id])."""
    if path.suffix == ".jsonl":
        keys = (
            "call_id",
            "sub_account",
            "started_at",
            "duration_seconds",
            "direction",
            "campaign_id",
        )
        path.write_text(
            "".join(json.dumps(dict(zip(keys, row, strict=False))) + "\n" for row in rows),
            encoding="utf-8",
        )
        return path
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["call_id", "sub_account", "started_at", "duration_seconds", "direction", "campaign_id"]
        )
        for row in rows:
            writer.writerow([*row, *([""] * (6 - len(row)))])
    return path


STARTER: dict[str, Any] = {
    "id": "starter",
    "name": "Starter",
    "monthly_fee": "49.00",
    "included_minutes": 200,
    "overage": "postpaid",
    "voice": {
        "outbound": {"overage_per_minute": "0.25", "increment": "60/6"},
        "inbound": {"overage_per_minute": "0.20", "increment": "60/6"},
    },
    "numbers": {"included": 1, "local": {"monthly": "3.00"}, "toll_free": {"monthly": "5.00"}},
    "limits": {"campaigns": 5, "numbers": 5, "parallel_calls": 2},
}

PRO: dict[str, Any] = {
    "id": "pro",
    "name": "Pro",
    "monthly_fee": "99.00",
    "included_minutes": 500,
    "overage": "postpaid",
    "voice": {
        "outbound": {"overage_per_minute": "0.15", "increment": "30/6"},
        "inbound": {"overage_per_minute": "0.12", "increment": "30/6"},
    },
    "numbers": {"included": 2, "local": {"monthly": "2.50"}},
}


def platform() -> dict[str, Any]:
    return {
        "name": "Example Voice Platform",
        "currency": "USD",
        "wholesale": {
            "voice": {
                "outbound": {"per_minute": "0.09", "increment": "1/1"},
                "inbound": {"per_minute": "0.07", "increment": "1/1"},
            },
            "numbers": {"local": {"monthly": "1.15"}, "toll_free": {"monthly": "2.15"}},
            "agency_monthly_fee": "0.00",
        },
    }


def sub_account(
    sub_id: str = "bright-dental",
    plan: str = "starter",
    subscribed_at: str = "2026-09-01T00:00:00-04:00",
    numbers: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    sub: dict[str, Any] = {
        "id": sub_id,
        "name": sub_id.replace("-", " ").title(),
        "email": f"billing@{sub_id}.example",
        "country": "US",
        "plan": plan,
        "subscribed_at": subscribed_at,
    }
    if numbers is not None:
        sub["numbers"] = numbers
    return sub


def agency(
    agency_id: str = "acme",
    timezone: str = "America/New_York",
    prefix: str = "ACME",
    subs: list[dict[str, Any]] | None = None,
    plans: list[dict[str, Any]] | None = None,
    tax: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "id": agency_id,
        "name": f"{agency_id.title()} Voice AI",
        "timezone": timezone,
        "invoice_prefix": prefix,
        "tax": tax or {"mode": "none"},
        "plans": copy.deepcopy(plans if plans is not None else [STARTER]),
        "sub_accounts": subs if subs is not None else [sub_account()],
    }


def catalog(*agencies: dict[str, Any]) -> dict[str, Any]:
    return {"platform": platform(), "agencies": list(agencies) or [agency()]}


def lines(invoice: dict[str, Any]) -> list[Line]:
    return [(ln["code"], ln["quantity"], ln["unit_price"], ln["amount"]) for ln in invoice["lines"]]


def only_agency(document: dict[str, Any], agency_id: str = "acme") -> dict[str, Any]:
    [found] = [a for a in document["agencies"] if a["agency"] == agency_id]
    return found


def retail(
    document: dict[str, Any], sub_id: str = "bright-dental", agency_id: str = "acme"
) -> dict[str, Any]:
    [found] = [
        i for i in only_agency(document, agency_id)["retail_invoices"] if i["sub_account"] == sub_id
    ]
    return found


def wholesale(document: dict[str, Any], agency_id: str = "acme") -> dict[str, Any]:
    result: dict[str, Any] = only_agency(document, agency_id)["wholesale_invoice"]
    return result


def totals(invoice: dict[str, Any]) -> tuple[str, str, str]:
    return invoice["subtotal"], invoice["tax"], invoice["total"]


def usage_minutes(invoice: dict[str, Any]) -> tuple[str, str, str, str]:
    u = invoice["usage"]
    return (
        u["billable_minutes"],
        u["included_minutes_used"],
        u["credit_minutes"],
        u["postpaid_minutes"],
    )


# Numbers of the worked month: A rented in September (the included one), B on 16 October.
NUMBER_A = {"e164": "+15551230001", "type": "local", "rented_at": "2026-09-10T00:00:00-04:00"}
NUMBER_B = {"e164": "+15551230002", "type": "local", "rented_at": "2026-10-16T00:00:00-04:00"}


# ---------------------------------------------------------------------------------------------
# (1) the worked month of BILLING_MODEL §12
# ---------------------------------------------------------------------------------------------


def test_worked_month_of_billing_model_section_12(cli: Cli) -> None:
    applied = cli.apply(catalog(agency(subs=[sub_account(numbers=[NUMBER_A, NUMBER_B])])))
    assert applied["receipts"] == ["ACME-R-000001", "ACME-R-000002"]
    assert cli.receipts() == [
        # subscribed at the very start of September: fraction remaining 1 → 49.00 at once
        ("ACME-R-000001", "plan.fee", "49.00"),
        # B rented 2026-10-16T00:00-04:00, 16 days = 1,382,400 s of 2,678,400 s left:
        # 3.00 × 1,382,400 / 2,678,400 = 1.548387… → 1.548387 → 1.55 (A is the included one)
        ("ACME-R-000002", "number.rental.local", "1.55"),
    ]
    imported = cli.import_calls(
        [
            ("oct-out-1", "bright-dental", "2026-10-05T10:00:00-04:00", 12000, "outbound"),
            ("oct-in-1", "bright-dental", "2026-10-20T10:00:00-04:00", 125, "inbound"),
        ]
    )
    assert imported == {"imported": 2, "duplicates": 0, "rejected": 0, "rejections": []}

    document = cli.close("2026-10")
    assert document["period"] == "2026-10"
    acme = only_agency(document)
    assert acme["currency"] == "USD"
    invoice = retail(document)
    assert invoice["number"] == "ACME-000001"
    assert lines(invoice) == [
        # 12,000 s at 60/6 bills 12,000 s = the whole 200-minute pool; the 125 s inbound call
        # bills 60 + ceil(65/6)·6 = 126 s, all overage: 126 × 0.20 / 60 = 0.420000 → 0.42,
        # quantity 126 / 60 = 2.100 minutes
        ("voice.overage.inbound", "2.100", "0.20", "0.42"),
        # November in advance
        ("plan.fee", "1", "49.00", "49.00"),
        # held at period end: A and B; A (rented first) is included → 1 × 3.00
        ("number.rental.local", "1", "3.00", "3.00"),
    ]
    # 0.42 + 49.00 + 3.00 = 52.42, tax none
    assert totals(invoice) == ("52.42", "0.00", "52.42")
    # billable (12,000 + 126) / 60 = 202.100; included 200.000; postpaid 126 / 60 = 2.100
    assert usage_minutes(invoice) == ("202.100", "200.000", "0.000", "2.100")
    assert invoice["usage"]["numbers"] == 2
    assert invoice["usage"]["campaigns"] == 0

    sale = wholesale(document)
    assert sale["number"] == "PLAT-000001"
    assert lines(sale) == [
        # 12,000 s at 1/1 = 200.000 min; 12,000 × 0.09 / 60 = 18.000000 → 18.00
        ("voice.outbound", "200.000", "0.09", "18.00"),
        # 125 s = 2.0833… → 2.083 min; 125 × 0.07 / 60 = 0.1458333… → 0.145833 → 0.15
        ("voice.inbound", "2.083", "0.07", "0.15"),
        # A whole period 1.150000; B 1.15 × 1,382,400 / 2,678,400 = 0.5935483… → 0.593548;
        # 1.743548 → 1.74 (platform fee 0.00 → no line)
        ("number.local", "2", "1.15", "1.74"),
    ]
    # 18.00 + 0.15 + 1.74 = 19.89
    assert totals(sale) == ("19.89", "0.00", "19.89")

    profit = acme["profit"]
    # revenue: October plan fee renewed at its start 49.00 + B's receipt 1.55 + overage 0.42
    # = 50.97; cost = wholesale subtotal 19.89; profit 50.97 − 19.89 = 31.08
    assert (profit["revenue"], profit["cost"], profit["profit"]) == ("50.97", "19.89", "31.08")
    [by_sub] = profit["by_sub_account"]
    # sub-account cost: 18.000000 + 0.145833 + 1.150000 + 0.593548 = 19.889381 → 19.89
    assert by_sub == {
        "sub_account": "bright-dental",
        "revenue": "50.97",
        "cost": "19.89",
        "profit": "31.08",
    }


# ---------------------------------------------------------------------------------------------
# (2) included minutes used up exactly: no overage line
# ---------------------------------------------------------------------------------------------


def test_included_minutes_exactly_used_up(cli: Cli) -> None:
    cli.apply(catalog())
    cli.import_calls(
        [
            # 6,000 s at 60/6: 60 + ceil(5,940/6)·6 = 60 + 990·6 = 6,000 s
            ("c1", "bright-dental", "2026-10-03T09:00:00-04:00", 6000, "outbound", "spring"),
            # 5,995 s at 60/6: 60 + ceil(5,935/6)·6 = 60 + 990·6 = 6,000 s → pool now 12,000 s used
            ("c2", "bright-dental", "2026-10-04T09:00:00-04:00", 5995, "inbound", "spring"),
            # 0 s: not billable on either side
            ("c3", "bright-dental", "2026-10-05T09:00:00-04:00", 0, "outbound", "autumn"),
        ]
    )
    document = cli.close("2026-10")
    invoice = retail(document)
    # 6,000 + 6,000 = 12,000 s = 200 min = the whole pool; nothing beyond → no overage lines
    assert lines(invoice) == [("plan.fee", "1", "49.00", "49.00")]
    assert totals(invoice) == ("49.00", "0.00", "49.00")
    assert usage_minutes(invoice) == ("200.000", "200.000", "0.000", "0.000")
    # numbers: none held; campaigns: spring, autumn (the 0 s call still names one)
    assert invoice["usage"]["numbers"] == 0
    assert invoice["usage"]["campaigns"] == 2
    assert lines(wholesale(document)) == [
        # 6,000 s = 100.000 min; 6,000 × 0.09 / 60 = 9.000000 → 9.00
        ("voice.outbound", "100.000", "0.09", "9.00"),
        # 5,995 s at 1/1 = 99.9166… → 99.917 min; 5,995 × 0.07 / 60 = 6.9941666… → 6.994167
        # → 6.99
        ("voice.inbound", "99.917", "0.07", "6.99"),
    ]
    # 9.00 + 6.99 = 15.99
    assert totals(wholesale(document)) == ("15.99", "0.00", "15.99")


# ---------------------------------------------------------------------------------------------
# (3) a call that crosses the end of the pool is split
# ---------------------------------------------------------------------------------------------


def test_call_crossing_the_end_of_the_pool_is_split(cli: Cli) -> None:
    cli.apply(catalog())
    # the file is out of order on purpose: funding follows (started_at, call_id)
    cli.import_calls(
        [
            ("c3", "bright-dental", "2026-10-20T09:00:00-04:00", 31, "inbound"),
            ("c1", "bright-dental", "2026-10-02T09:00:00-04:00", 11700, "outbound"),
            ("c2", "bright-dental", "2026-10-10T09:00:00-04:00", 500, "outbound"),
        ]
    )
    document = cli.close("2026-10")
    invoice = retail(document)
    assert lines(invoice) == [
        # c1: 60 + ceil(11,640/6)·6 = 11,700 s, all included → 300 s of pool left.
        # c2: 500 s → 60 + ceil(440/6)·6 = 60 + 74·6 = 504 s: 300 s free, 204 s overage;
        # 204 × 0.25 / 60 = 0.850000 → 0.85, quantity 204 / 60 = 3.400
        ("voice.overage.outbound", "3.400", "0.25", "0.85"),
        # c3: 31 s → 60 s, pool empty: 60 × 0.20 / 60 = 0.200000 → 0.20, quantity 1.000
        ("voice.overage.inbound", "1.000", "0.20", "0.20"),
        ("plan.fee", "1", "49.00", "49.00"),
    ]
    # 0.85 + 0.20 + 49.00 = 50.05
    assert totals(invoice) == ("50.05", "0.00", "50.05")
    # billable 11,700 + 504 + 60 = 12,264 s = 204.400; included 200.000; postpaid 264 s = 4.400
    assert usage_minutes(invoice) == ("204.400", "200.000", "0.000", "4.400")
    assert lines(wholesale(document)) == [
        # 11,700 + 500 = 12,200 s = 203.333… → 203.333 min; 12,200 × 0.09 / 60 = 18.300000
        ("voice.outbound", "203.333", "0.09", "18.30"),
        # 31 s = 0.5166… → 0.517 min; 31 × 0.07 / 60 = 0.0361666… → 0.036167 → 0.04
        ("voice.inbound", "0.517", "0.07", "0.04"),
    ]
    # 18.30 + 0.04 = 18.34
    assert totals(wholesale(document)) == ("18.34", "0.00", "18.34")


# ---------------------------------------------------------------------------------------------
# (4) credits first, then postpaid
# ---------------------------------------------------------------------------------------------


def test_credits_then_postpaid(cli: Cli) -> None:
    cli.apply(catalog())
    added = cli.json(
        "credits", "add", "--agency", "acme", "--sub-account", "bright-dental", "--amount", "1.00"
    )
    assert added["balance"] == "1.00"
    # the subscription receipt (49.00 for September, subscribed at its start) came first
    assert cli.receipts() == [
        ("ACME-R-000001", "plan.fee", "49.00"),
        ("ACME-R-000002", "credits.purchase", "1.00"),
    ]
    cli.import_calls(
        [
            # uses the whole pool (12,000 s at 60/6 = 12,000 s)
            ("c1", "bright-dental", "2026-10-02T09:00:00-04:00", 12000, "outbound"),
            # 125 s → 126 s overage: 126 × 0.20 / 60 = 0.420000, all from the wallet
            # (1.00 → 0.58); 126 credit seconds
            ("c2", "bright-dental", "2026-10-03T09:00:00-04:00", 125, "inbound"),
            # 600 s → 60 + 90·6 = 600 s: 600 × 0.25 / 60 = 2.500000; wallet pays 0.58, unpaid 1.92;
            # credit seconds 600 × 0.58 / 2.50 = 139.2, postpaid seconds 600 − 139.2 = 460.8
            ("c3", "bright-dental", "2026-10-04T09:00:00-04:00", 600, "outbound"),
            # 120 s → 120 s: 120 × 0.25 / 60 = 0.500000, wallet empty → all postpaid
            ("c4", "bright-dental", "2026-10-05T09:00:00-04:00", 120, "outbound"),
        ]
    )
    document = cli.close("2026-10")
    invoice = retail(document)
    assert lines(invoice) == [
        # postpaid outbound: (460.8 + 120) / 60 = 9.680 min; 1.920000 + 0.500000 = 2.42
        ("voice.overage.outbound", "9.680", "0.25", "2.42"),
        # no inbound line: its only overage was paid from credits (zero lines are left out)
        ("plan.fee", "1", "49.00", "49.00"),
    ]
    # 2.42 + 49.00 = 51.42
    assert totals(invoice) == ("51.42", "0.00", "51.42")
    # billable 12,000 + 126 + 600 + 120 = 12,846 s = 214.100; included 200.000;
    # credit 126 + 139.2 = 265.2 s = 4.420; postpaid 580.8 s = 9.680 (200 + 4.42 + 9.68 = 214.1)
    assert usage_minutes(invoice) == ("214.100", "200.000", "4.420", "9.680")
    sale = wholesale(document)
    assert lines(sale) == [
        # 12,000 + 600 + 120 = 12,720 s = 212.000 min; × 0.09 / 60 = 19.080000
        ("voice.outbound", "212.000", "0.09", "19.08"),
        # 125 s = 2.083 min; 0.145833 → 0.15
        ("voice.inbound", "2.083", "0.07", "0.15"),
    ]
    assert totals(sale) == ("19.23", "0.00", "19.23")
    profit = only_agency(document)["profit"]
    # revenue: October plan fee 49.00 + postpaid 2.42 + credits spent 1.00 = 52.42;
    # cost 19.23; profit 33.19
    assert (profit["revenue"], profit["cost"], profit["profit"]) == ("52.42", "19.23", "33.19")
    # the wallet was emptied by October's close: a new purchase of 1.00 leaves 1.00
    again = cli.json(
        "credits",
        "add",
        "--agency",
        "acme",
        "--sub-account",
        "bright-dental",
        "--amount",
        "1.00",
        "--reference",
        "second",
    )
    assert again["balance"] == "1.00"


# ---------------------------------------------------------------------------------------------
# (5) upgrade in the middle of the month
# ---------------------------------------------------------------------------------------------


def test_upgrade_mid_month(cli: Cli) -> None:
    plans = [STARTER, PRO]
    cli.apply(catalog(agency(plans=plans)))
    # re-applied with the dearer plan from 2026-10-11T00:00-04:00: an upgrade at that instant
    applied = cli.apply(
        catalog(
            agency(
                plans=plans,
                subs=[sub_account(plan="pro", subscribed_at="2026-10-11T00:00:00-04:00")],
            )
        ),
        name="catalog-2.yaml",
    )
    assert applied["receipts"] == ["ACME-R-000002"]
    assert cli.receipts() == [
        ("ACME-R-000001", "plan.fee", "49.00"),
        # 21 days left of 31: (99.00 − 49.00) × 1,814,400 / 2,678,400 = 50 × 21/31
        # = 33.870967… → 33.870968 → 33.87
        ("ACME-R-000002", "plan.proration", "33.87"),
    ]
    cli.import_calls(
        [
            # starter, 60/6: 11,700 s → 11,700 s included; 300 s of the 200-min pool left
            ("c1", "bright-dental", "2026-10-05T09:00:00-04:00", 11700, "outbound"),
            # after the upgrade the pool is 500 min = 30,000 s minus 11,700 used = 18,300 s.
            # pro, 30/6: 18,300 s → 30 + ceil(18,270/6)·6 = 18,300 s, all included: pool empty
            ("c2", "bright-dental", "2026-10-15T09:00:00-04:00", 18300, "outbound"),
            # pro 30/6: 10 s → 30 s (starter's 60/6 would bill 60 s); 30 × 0.15 / 60 = 0.075000
            ("c3", "bright-dental", "2026-10-20T09:00:00-04:00", 10, "outbound"),
            # pro 30/6: 100 s → 30 + ceil(70/6)·6 = 102 s; 102 × 0.12 / 60 = 0.204000
            ("c4", "bright-dental", "2026-10-21T09:00:00-04:00", 100, "inbound"),
        ]
    )
    document = cli.close("2026-10")
    invoice = retail(document)
    assert lines(invoice) == [
        # 30 s = 0.500 min at 0.15: 0.075000 → 0.08 (half up)
        ("voice.overage.outbound", "0.500", "0.15", "0.08"),
        # 102 s = 1.700 min at 0.12: 0.204000 → 0.20
        ("voice.overage.inbound", "1.700", "0.12", "0.20"),
        # November in advance at the plan in force then (pro); no numbers held
        ("plan.fee", "1", "99.00", "99.00"),
    ]
    # 0.08 + 0.20 + 99.00 = 99.28
    assert totals(invoice) == ("99.28", "0.00", "99.28")
    # billable 11,700 + 18,300 + 30 + 102 = 30,132 s = 502.200; included 11,700 + 18,300
    # = 30,000 s = 500.000; postpaid 132 s = 2.200
    assert usage_minutes(invoice) == ("502.200", "500.000", "0.000", "2.200")
    sale = wholesale(document)
    assert lines(sale) == [
        # 11,700 + 18,300 + 10 = 30,010 s = 500.1666… → 500.167 min;
        # 30,010 × 0.09 / 60 = 45.015000 → 45.02
        ("voice.outbound", "500.167", "0.09", "45.02"),
        # 100 s = 1.667 min; 100 × 0.07 / 60 = 0.1166… → 0.116667 → 0.12
        ("voice.inbound", "1.667", "0.07", "0.12"),
    ]
    assert totals(sale) == ("45.14", "0.00", "45.14")
    profit = only_agency(document)["profit"]
    # revenue: October renewal of starter 49.00 + upgrade receipt 33.87 + overage 0.08 + 0.20
    # = 83.15; agency cost = wholesale subtotal 45.14; profit 83.15 − 45.14 = 38.01
    assert (profit["revenue"], profit["cost"], profit["profit"]) == ("83.15", "45.14", "38.01")
    # the sub-account's own cost rounds once: 45.015000 + 0.116667 = 45.131667 → 45.13
    assert profit["by_sub_account"] == [
        {"sub_account": "bright-dental", "revenue": "83.15", "cost": "45.13", "profit": "38.02"}
    ]


# ---------------------------------------------------------------------------------------------
# (6) numbers rented and released mid-month
# ---------------------------------------------------------------------------------------------


def test_number_rented_and_released_mid_month(cli: Cli) -> None:
    number_c = {
        "e164": "+15551230003",
        "type": "local",
        "rented_at": "2026-10-11T00:00:00-04:00",
        "released_at": "2026-10-21T00:00:00-04:00",
    }
    number_t = {
        "e164": "+18005550100",
        "type": "toll_free",
        "rented_at": "2026-10-26T12:00:00-04:00",
    }
    cli.apply(catalog(agency(subs=[sub_account(numbers=[NUMBER_A, number_c, number_t])])))
    assert cli.receipts() == [
        ("ACME-R-000001", "plan.fee", "49.00"),
        # C rented 2026-10-11T00:00-04:00 (A is the included one): 21 days of 31 left,
        # 3.00 × 1,814,400 / 2,678,400 = 2.032258… → 2.032258 → 2.03 (no refund on release)
        ("ACME-R-000002", "number.rental.local", "2.03"),
        # T rented 2026-10-26T12:00-04:00: 5.5 days = 475,200 s left;
        # 5.00 × 475,200 / 2,678,400 = 0.887096… → 0.887097 → 0.89
        ("ACME-R-000003", "number.rental.toll_free", "0.89"),
    ]
    cli.import_calls(
        [
            ("c1", "bright-dental", "2026-10-12T09:00:00-04:00", 30, "outbound"),
        ]
    )
    document = cli.close("2026-10")
    invoice = retail(document)
    assert lines(invoice) == [
        # the 30 s call (60 s billable) is inside the pool: no overage
        ("plan.fee", "1", "49.00", "49.00"),
        # held at period end: A (included, rented first) and T → T renews at 5.00;
        # C was released on 21 October and is not renewed
        ("number.rental.toll_free", "1", "5.00", "5.00"),
    ]
    assert totals(invoice) == ("54.00", "0.00", "54.00")
    assert invoice["usage"]["numbers"] == 2
    sale = wholesale(document)
    assert lines(sale) == [
        # 30 s = 0.500 min; 30 × 0.09 / 60 = 0.045000 → 0.05 (half up)
        ("voice.outbound", "0.500", "0.09", "0.05"),
        # A whole period 1.150000; C held 10 days = 864,000 s: 1.15 × 864,000 / 2,678,400
        # = 0.370967… → 0.370968; 1.520968 → 1.52; 2 numbers held during October
        ("number.local", "2", "1.15", "1.52"),
        # T held 475,200 s: 2.15 × 475,200 / 2,678,400 = 0.381451… → 0.381452 → 0.38
        ("number.toll_free", "1", "2.15", "0.38"),
    ]
    # 0.05 + 1.52 + 0.38 = 1.95
    assert totals(sale) == ("1.95", "0.00", "1.95")
    profit = only_agency(document)["profit"]
    # revenue: October renewal 49.00 (only A was held then: included) + receipts 2.03 + 0.89
    # = 51.92; cost 1.95; profit 49.97
    assert (profit["revenue"], profit["cost"], profit["profit"]) == ("51.92", "1.95", "49.97")


# ---------------------------------------------------------------------------------------------
# (7) calls at the period's edges, in the agency's timezone (and a DST month)
# ---------------------------------------------------------------------------------------------


def test_calls_at_period_edges_in_agency_timezone(cli: Cli) -> None:
    number_d = {"e164": "+15551230004", "type": "local", "rented_at": "2026-11-16T00:00:00-05:00"}
    number_a = {**NUMBER_A, "rented_at": "2026-08-10T00:00:00-04:00"}
    cli.apply(
        catalog(
            agency(
                subs=[
                    sub_account(
                        subscribed_at="2026-08-01T00:00:00-04:00", numbers=[number_a, number_d]
                    )
                ]
            )
        )
    )
    # November in New York is [2026-11-01T04:00Z, 2026-12-01T05:00Z): DST ends on 1 November,
    # so it lasts 30 days + 1 hour = 2,595,600 s. D rented 2026-11-16T05:00Z has 15 days =
    # 1,296,000 s left: 3.00 × 1,296,000 / 2,595,600 = 1.497919… → 1.497920 → 1.50
    assert cli.receipts()[-1] == ("ACME-R-000002", "number.rental.local", "1.50")
    cli.import_calls(
        [
            # 23:59:59 on 31 October, New York time → October
            ("e1", "bright-dental", "2026-10-31T23:59:59-04:00", 60, "outbound"),
            # midnight 1 November, New York time → November (the end is exclusive)
            ("e2", "bright-dental", "2026-11-01T00:00:00-04:00", 240, "outbound"),
            # 03:59:59Z on 1 November = 23:59:59 EDT on 31 October → October
            ("e3", "bright-dental", "2026-11-01T03:59:59Z", 120, "outbound"),
            # 04:00:00Z = midnight EDT → November
            ("e4", "bright-dental", "2026-11-01T04:00:00Z", 300, "outbound"),
            # the first instant of October in New York → October (the start is inclusive)
            ("e5", "bright-dental", "2026-10-01T00:00:00-04:00", 180, "outbound"),
            # 03:59:59Z on 1 October = 23:59:59 EDT on 30 September → September
            ("e6", "bright-dental", "2026-10-01T03:59:59Z", 420, "outbound"),
        ]
    )
    september = cli.close("2026-09")
    october = cli.close("2026-10")
    november = cli.close("2026-11")
    assert [retail(d)["number"] for d in (september, october, november)] == [
        "ACME-000001",
        "ACME-000002",
        "ACME-000003",
    ]
    assert [wholesale(d)["number"] for d in (september, october, november)] == [
        "PLAT-000001",
        "PLAT-000002",
        "PLAT-000003",
    ]
    # September: e6 only, 420 s (a multiple of 6, all inside the pool) = 7.000 min
    assert usage_minutes(retail(september)) == ("7.000", "7.000", "0.000", "0.000")
    # October: e1 60 + e3 120 + e5 180 = 360 s = 6.000 min
    assert usage_minutes(retail(october)) == ("6.000", "6.000", "0.000", "0.000")
    # November: e2 240 + e4 300 = 540 s = 9.000 min
    assert usage_minutes(retail(november)) == ("9.000", "9.000", "0.000", "0.000")
    assert lines(wholesale(september)) == [
        # 420 s = 7.000 min; 420 × 0.09 / 60 = 0.630000
        ("voice.outbound", "7.000", "0.09", "0.63"),
        # A held all September: 1.15
        ("number.local", "1", "1.15", "1.15"),
    ]
    assert lines(wholesale(october)) == [
        # 360 s = 6.000 min; 360 × 0.09 / 60 = 0.540000
        ("voice.outbound", "6.000", "0.09", "0.54"),
        ("number.local", "1", "1.15", "1.15"),
    ]
    assert lines(wholesale(november)) == [
        # 540 s = 9.000 min; 540 × 0.09 / 60 = 0.810000
        ("voice.outbound", "9.000", "0.09", "0.81"),
        # A 1.150000 + D 1.15 × 1,296,000 / 2,595,600 = 0.574202… → 0.574202;
        # 1.724202 → 1.72 (a 30-day month would give 0.575000 and 1.73)
        ("number.local", "2", "1.15", "1.72"),
    ]
    # November's close bills December in advance: plan 49.00, D beyond the included A 3.00
    assert lines(retail(november)) == [
        ("plan.fee", "1", "49.00", "49.00"),
        ("number.rental.local", "1", "3.00", "3.00"),
    ]
    assert lines(retail(october)) == [("plan.fee", "1", "49.00", "49.00")]


# ---------------------------------------------------------------------------------------------
# (8) a call imported after its period was closed: late usage on the next close
# ---------------------------------------------------------------------------------------------


def test_late_call_billed_on_next_close(cli: Cli) -> None:
    cli.apply(catalog())
    cli.import_calls(
        [
            # 11,900 s at 60/6 → 60 + ceil(11,840/6)·6 = 60 + 1,974·6 = 11,904 s; 96 s of pool left
            ("c1", "bright-dental", "2026-10-05T09:00:00-04:00", 11900, "outbound"),
        ]
    )
    october = cli.close("2026-10")
    assert lines(retail(october)) == [("plan.fee", "1", "49.00", "49.00")]
    assert retail(october)["number"] == "ACME-000001"
    # 11,900 s = 198.333 min; 11,900 × 0.09 / 60 = 17.850000
    assert lines(wholesale(october)) == [("voice.outbound", "198.333", "0.09", "17.85")]

    imported = cli.import_calls(
        [
            # late: October 30th, imported after October was closed
            ("late-1", "bright-dental", "2026-10-30T09:00:00-04:00", 200, "outbound"),
            # November's own call: 90 s → 60 + 5·6 = 90 s, inside November's pool
            ("nov-1", "bright-dental", "2026-11-10T09:00:00-05:00", 90, "outbound"),
        ],
        name="calls-2.csv",
    )
    assert imported["imported"] == 2
    # closing October again prints the same document: closed invoices are never reopened
    assert cli.close("2026-10") == october

    november = cli.close("2026-11")
    invoice = retail(november)
    assert invoice["number"] == "ACME-000002"
    assert lines(invoice) == [
        # late-1: 200 s → 60 + ceil(140/6)·6 = 204 s; October's remaining pool 96 s is free,
        # 108 s overage: 108 × 0.25 / 60 = 0.450000 → 0.45, quantity 108 / 60 = 1.800
        ("voice.late_usage", "1.800", None, "0.45"),
        ("plan.fee", "1", "49.00", "49.00"),
    ]
    # 0.45 + 49.00 = 49.45
    assert totals(invoice) == ("49.45", "0.00", "49.45")
    sale = wholesale(november)
    assert sale["number"] == "PLAT-000002"
    assert lines(sale) == [
        # late-1 200 s + nov-1 90 s = 290 s = 4.833 min;
        # 200 × 0.09 / 60 = 0.300000 + 90 × 0.09 / 60 = 0.135000 = 0.435000 → 0.44 (half up)
        ("voice.outbound", "4.833", "0.09", "0.44"),
    ]
    profit = only_agency(november)["profit"]
    # revenue: November renewal 49.00 + late usage 0.45 = 49.45; cost 0.44; profit 49.01
    assert (profit["revenue"], profit["cost"], profit["profit"]) == ("49.45", "0.44", "49.01")


# ---------------------------------------------------------------------------------------------
# (9) two agencies in different timezones closed together
# ---------------------------------------------------------------------------------------------


def test_two_agencies_different_timezones_closed_together(cli: Cli) -> None:
    basic = {
        "id": "basic",
        "name": "Basic",
        "monthly_fee": "20.00",
        "included_minutes": 0,
        "overage": "postpaid",
        "voice": {
            "outbound": {"overage_per_minute": "0.30", "increment": "1/1"},
            "inbound": {"overage_per_minute": "0.30", "increment": "1/1"},
        },
    }
    sakura = agency(
        "sakura",
        "Asia/Tokyo",
        "SAKU",
        plans=[basic],
        subs=[sub_account("koi-sushi", plan="basic", subscribed_at="2026-09-01T00:00:00+09:00")],
    )
    sakura["wholesale"] = {"agency_monthly_fee": "25.00"}
    # bright-dental is listed first, but invoices go by sub-account id: alpha-clinic first
    acme = agency(subs=[sub_account(), sub_account("alpha-clinic")])
    cli.apply(catalog(sakura, acme))
    cli.import_calls(
        [
            # 23:30 EDT on 31 October (03:30Z on 1 November) → October in New York
            ("a-oct", "bright-dental", "2026-10-31T23:30:00-04:00", 120, "outbound"),
            # 02:00Z on 1 October = 22:00 EDT on 30 September → September in New York
            ("a-sep", "bright-dental", "2026-10-01T02:00:00Z", 240, "outbound"),
        ],
        name="acme.jsonl",
    )
    cli.import_calls(
        [
            # 15:30Z on 31 October = 00:30 JST on 1 November → November in Tokyo
            ("k-nov", "koi-sushi", "2026-10-31T15:30:00Z", 600, "outbound"),
            # 15:30Z on 30 September = 00:30 JST on 1 October → October in Tokyo
            ("k-oct", "koi-sushi", "2026-09-30T15:30:00Z", 300, "outbound"),
        ],
        agency="sakura",
        name="sakura.jsonl",
    )

    document = cli.close("2026-10")
    # all agencies, in id order: acme, then sakura
    assert [a["agency"] for a in document["agencies"]] == ["acme", "sakura"]
    assert [(i["number"], i["sub_account"]) for i in only_agency(document)["retail_invoices"]] == [
        ("ACME-000001", "alpha-clinic"),
        ("ACME-000002", "bright-dental"),
    ]
    assert lines(retail(document, "alpha-clinic")) == [("plan.fee", "1", "49.00", "49.00")]
    # acme October: a-oct only, 120 s = 2.000 min (inside the pool)
    assert usage_minutes(retail(document)) == ("2.000", "2.000", "0.000", "0.000")
    acme_sale = wholesale(document)
    assert acme_sale["number"] == "PLAT-000001"
    # 120 × 0.09 / 60 = 0.180000
    assert lines(acme_sale) == [("voice.outbound", "2.000", "0.09", "0.18")]

    koi = retail(document, "koi-sushi", "sakura")
    assert koi["number"] == "SAKU-000001"
    assert lines(koi) == [
        # k-oct only: 300 s at 1/1, no pool: 300 × 0.30 / 60 = 1.500000, quantity 5.000
        ("voice.overage.outbound", "5.000", "0.30", "1.50"),
        ("plan.fee", "1", "20.00", "20.00"),
    ]
    assert totals(koi) == ("21.50", "0.00", "21.50")
    sakura_sale = wholesale(document, "sakura")
    assert sakura_sale["number"] == "PLAT-000002"
    assert lines(sakura_sale) == [
        # 300 × 0.09 / 60 = 0.450000
        ("voice.outbound", "5.000", "0.09", "0.45"),
        # the agency's own monthly fee override
        ("platform.fee", "1", "25.00", "25.00"),
    ]
    assert totals(sakura_sale) == ("25.45", "0.00", "25.45")
    profit = only_agency(document, "sakura")["profit"]
    # revenue: October renewal 20.00 + overage 1.50 = 21.50; cost 25.45; profit −3.95
    assert (profit["revenue"], profit["cost"], profit["profit"]) == ("21.50", "25.45", "-3.95")

    # Tokyo's November holds k-nov; New York's September holds a-sep
    november = cli.close("2026-11", "sakura")
    koi_nov = retail(november, "koi-sushi", "sakura")
    assert koi_nov["number"] == "SAKU-000002"
    # 600 × 0.30 / 60 = 3.000000, quantity 10.000
    assert lines(koi_nov)[0] == ("voice.overage.outbound", "10.000", "0.30", "3.00")
    assert wholesale(november, "sakura")["number"] == "PLAT-000003"
    september = cli.close("2026-09", "acme")
    assert usage_minutes(retail(september)) == ("4.000", "4.000", "0.000", "0.000")
    assert wholesale(september)["number"] == "PLAT-000004"
    # 240 × 0.09 / 60 = 0.360000
    assert lines(wholesale(september)) == [("voice.outbound", "4.000", "0.09", "0.36")]


# ---------------------------------------------------------------------------------------------
# (10) manual tax, exclusive and inclusive
# ---------------------------------------------------------------------------------------------


def test_manual_tax_exclusive_and_inclusive(cli: Cli) -> None:
    exclusive = agency(
        "excl",
        prefix="EXC",
        tax={"mode": "manual", "rate": "20", "behavior": "exclusive", "label": "VAT"},
    )
    inclusive = agency(
        "incl",
        prefix="INC",
        tax={"mode": "manual", "rate": "20", "behavior": "inclusive", "label": "VAT"},
    )
    cli.apply(catalog(exclusive, inclusive))
    calls = [
        ("c1", "bright-dental", "2026-10-02T09:00:00-04:00", 12000, "outbound"),
        # 103 s → 60 + ceil(43/6)·6 = 108 s, all overage: 108 × 0.25 / 60 = 0.450000,
        # quantity 1.800
        ("c2", "bright-dental", "2026-10-03T09:00:00-04:00", 103, "outbound"),
    ]
    cli.import_calls(calls, agency="excl", name="excl.csv")
    cli.import_calls(calls, agency="incl", name="incl.csv")

    excl = retail(cli.close("2026-10", "excl"), agency_id="excl")
    assert excl["number"] == "EXC-000001"
    assert lines(excl) == [
        ("voice.overage.outbound", "1.800", "0.25", "0.45"),
        ("plan.fee", "1", "49.00", "49.00"),
    ]
    # exclusive, per line from the rounded amount: 0.45 × 0.20 = 0.09; 49.00 × 0.20 = 9.80
    assert [ln["tax"] for ln in excl["lines"]] == ["0.09", "9.80"]
    # subtotal 0.45 + 49.00 = 49.45; tax 0.09 + 9.80 = 9.89; total 49.45 + 9.89 = 59.34
    assert totals(excl) == ("49.45", "9.89", "59.34")

    incl = retail(cli.close("2026-10", "incl"), agency_id="incl")
    assert incl["number"] == "INC-000001"
    assert lines(incl) == [
        ("voice.overage.outbound", "1.800", "0.25", "0.45"),
        ("plan.fee", "1", "49.00", "49.00"),
    ]
    # inclusive: tax = amount − amount / 1.2: 0.45 − 0.375 = 0.075 → 0.08 (half up);
    # 49.00 − 40.8333… = 8.1666… → 8.17
    assert [ln["tax"] for ln in incl["lines"]] == ["0.08", "8.17"]
    # subtotal 49.45; tax 0.08 + 8.17 = 8.25; total = subtotal 49.45 (the lines hold the tax)
    assert totals(incl) == ("49.45", "8.25", "49.45")


# ---------------------------------------------------------------------------------------------
# (11) idempotency
# ---------------------------------------------------------------------------------------------


def test_idempotent_apply_import_and_close(cli: Cli, tmp_path: Path) -> None:
    document = catalog(agency(subs=[sub_account(numbers=[NUMBER_A, NUMBER_B])]))
    first = cli.apply(document)
    assert first["receipts"] == ["ACME-R-000001", "ACME-R-000002"]
    invoices_before = cli.json("invoices", "list")
    second = cli.apply(document)
    assert second["created"] == {}
    assert second["receipts"] == []
    assert cli.json("invoices", "list") == invoices_before

    rows = [
        ("c1", "bright-dental", "2026-10-05T10:00:00-04:00", 12000, "outbound"),
        ("c2", "bright-dental", "2026-10-20T10:00:00-04:00", 125, "inbound"),
        # the same call_id twice in one file: the second is a duplicate
        ("c2", "bright-dental", "2026-10-20T10:00:00-04:00", 125, "inbound"),
    ]
    assert cli.import_calls(rows) == {
        "imported": 2,
        "duplicates": 1,
        "rejected": 0,
        "rejections": [],
    }
    assert cli.import_calls(rows) == {
        "imported": 0,
        "duplicates": 3,
        "rejected": 0,
        "rejections": [],
    }

    first_close = cli.run("close", "--period", "2026-10", "--json").stdout
    second_close = cli.run("close", "--period", "2026-10", "--json").stdout
    assert first_close == second_close
    # still the §12 invoice: the duplicates changed nothing
    assert totals(retail(json.loads(first_close))) == ("52.42", "0.00", "52.42")
    assert totals(wholesale(json.loads(first_close))) == ("19.89", "0.00", "19.89")
    numbers = [i["number"] for i in cli.json("invoices", "list")["data"]]
    assert numbers == ["ACME-R-000001", "ACME-R-000002", "ACME-000001", "PLAT-000001"]


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------


def _unknown_key(doc: dict[str, Any]) -> None:
    doc["agencies"][0]["plans"][0]["colour"] = "red"


def _negative_price(doc: dict[str, Any]) -> None:
    doc["agencies"][0]["plans"][0]["monthly_fee"] = "-49.00"


def _zero_increment(doc: dict[str, Any]) -> None:
    doc["agencies"][0]["plans"][0]["voice"]["outbound"]["increment"] = "0/6"


def _unknown_timezone(doc: dict[str, Any]) -> None:
    doc["agencies"][0]["timezone"] = "Mars/Olympus_Mons"


def _undefined_plan(doc: dict[str, Any]) -> None:
    doc["agencies"][0]["sub_accounts"][0]["plan"] = "gold"


@pytest.mark.parametrize(
    ("mutate", "path", "words"),
    [
        (_unknown_key, "agencies[0].plans[0].colour", "unknown key"),
        (_negative_price, "agencies[0].plans[0].monthly_fee", "negative"),
        (_zero_increment, "agencies[0].plans[0].voice.outbound.increment", "0/6"),
        (_unknown_timezone, "agencies[0].timezone", "Mars/Olympus_Mons"),
        (_undefined_plan, "agencies[0].sub_accounts[0].plan", "gold"),
    ],
    ids=["unknown-key", "negative-price", "zero-increment", "unknown-timezone", "undefined-plan"],
)
def test_bad_catalog_is_refused_whole(
    cli: Cli, tmp_path: Path, mutate: Callable[[dict[str, Any]], None], path: str, words: str
) -> None:
    document = catalog()
    mutate(document)
    file = tmp_path / "catalog.yaml"
    file.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    result = cli.run("apply", str(file), ok=False)
    assert result.exit_code != 0
    assert result.stdout == ""
    assert "catalog.yaml" in result.stderr
    assert path in result.stderr
    assert words in result.stderr
    # nothing applied: no platform, no agency, no receipts
    assert cli.json("invoices", "list") == {"data": []}
    missing = cli.run("invoices", "list", "--agency", "acme", ok=False)
    assert missing.exit_code != 0
    assert "acme" in missing.stderr


def test_bad_usage_rows_are_rejected_with_line_numbers(cli: Cli, tmp_path: Path) -> None:
    cli.apply(catalog())
    file = tmp_path / "calls.csv"
    file.write_text(
        "call_id,sub_account,started_at,duration_seconds,direction\n"  # line 1
        "ok-1,bright-dental,2026-10-05T10:00:00-04:00,60,outbound\n"  # line 2
        "bad-ts,bright-dental,2026-10-32T10:00:00-04:00,60,outbound\n"  # line 3
        "bad-dur,bright-dental,2026-10-05T11:00:00-04:00,-5,outbound\n"  # line 4
        "bad-sub,ghost-clinic,2026-10-05T12:00:00-04:00,60,outbound\n"  # line 5
        "bad-dir,bright-dental,2026-10-05T13:00:00-04:00,60,sideways\n"  # line 6
        "ok-2,bright-dental,2026-10-06T10:00:00-04:00,125,inbound\n",  # line 7
        encoding="utf-8",
    )
    result = cli.run("usage", "import", str(file), "--agency", "acme", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert (report["imported"], report["duplicates"], report["rejected"]) == (2, 0, 4)
    assert [(r["location"], r["field"]) for r in report["rejections"]] == [
        (f"{file}:3", "started_at"),
        (f"{file}:4", "duration_seconds"),
        (f"{file}:5", "sub_account"),
        (f"{file}:6", "direction"),
    ]
    messages = [r["message"] for r in report["rejections"]]
    assert "2026-10-32" in messages[0]
    assert "-5" in messages[1]
    assert "ghost-clinic" in messages[2]
    assert "sideways" in messages[3]
    # the reasons are on stderr too, each with its line
    for line_number in (3, 4, 5, 6):
        assert f"calls.csv:{line_number}" in result.stderr
    # the good rows were imported: importing again finds them as duplicates
    again = json.loads(cli.run("usage", "import", str(file), "--agency", "acme", "--json").stdout)
    assert (again["imported"], again["duplicates"], again["rejected"]) == (0, 2, 4)
    # and they are billed: 60 s outbound + 125 s inbound (→ 126 s at 60/6) = 186 s = 3.100 min
    document = cli.close("2026-10")
    assert usage_minutes(retail(document)) == ("3.100", "3.100", "0.000", "0.000")


# ---------------------------------------------------------------------------------------------
# more recurring-fee and funding cases
# ---------------------------------------------------------------------------------------------


def test_subscription_mid_month_is_prorated(cli: Cli) -> None:
    cli.apply(catalog(agency(subs=[sub_account(subscribed_at="2026-10-11T00:00:00-04:00")])))
    # 21 of 31 days left: 49.00 × 1,814,400 / 2,678,400 = 49 × 21/31 = 33.193548… → 33.19
    assert cli.receipts() == [("ACME-R-000001", "plan.proration", "33.19")]
    cli.import_calls([("c1", "bright-dental", "2026-10-12T09:00:00-04:00", 60, "outbound")])
    september = cli.close("2026-09")
    # the sub-account did not exist in September: no retail invoice
    assert only_agency(september)["retail_invoices"] == []
    october = cli.close("2026-10")
    invoice = retail(october)
    assert invoice["number"] == "ACME-000001"
    assert lines(invoice) == [("plan.fee", "1", "49.00", "49.00")]
    profit = only_agency(october)["profit"]
    # revenue: no renewal at October's start (not subscribed yet) + proration 33.19 = 33.19;
    # cost 60 × 0.09 / 60 = 0.090000 → 0.09; profit 33.10
    assert (profit["revenue"], profit["cost"], profit["profit"]) == ("33.19", "0.09", "33.10")


def test_downgrade_takes_effect_at_next_period(cli: Cli) -> None:
    lite = {
        "id": "lite",
        "name": "Lite",
        "monthly_fee": "19.00",
        "included_minutes": 50,
        "overage": "postpaid",
        "voice": {
            "outbound": {"overage_per_minute": "0.40", "increment": "60/6"},
            "inbound": {"overage_per_minute": "0.40", "increment": "60/6"},
        },
        "numbers": {"included": 0, "local": {"monthly": "4.00"}},
    }
    plans = [STARTER, lite]
    cli.apply(catalog(agency(plans=plans, subs=[sub_account(numbers=[NUMBER_A])])))
    applied = cli.apply(
        catalog(
            agency(
                plans=plans,
                subs=[
                    sub_account(
                        plan="lite", subscribed_at="2026-10-11T00:00:00-04:00", numbers=[NUMBER_A]
                    )
                ],
            )
        ),
        name="catalog-2.yaml",
    )
    # a downgrade charges nothing now (and refunds nothing)
    assert applied["receipts"] == []
    cli.import_calls(
        [
            # after the downgrade was asked for, but starter still rules October:
            # 12,060 s at 60/6 → 12,060 s; 12,000 s included, 60 s overage × 0.25 / 60 = 0.25
            ("c1", "bright-dental", "2026-10-20T09:00:00-04:00", 12060, "outbound"),
            # November, on lite: 3,060 s → 3,060 s; 50 min = 3,000 s included; 60 s × 0.40 / 60
            ("c2", "bright-dental", "2026-11-05T09:00:00-05:00", 3060, "outbound"),
        ]
    )
    october = cli.close("2026-10")
    assert lines(retail(october)) == [
        ("voice.overage.outbound", "1.000", "0.25", "0.25"),
        # November in advance at lite
        ("plan.fee", "1", "19.00", "19.00"),
        # lite includes no number: A renews at lite's 4.00
        ("number.rental.local", "1", "4.00", "4.00"),
    ]
    # 0.25 + 19.00 + 4.00 = 23.25
    assert totals(retail(october)) == ("23.25", "0.00", "23.25")
    profit = only_agency(october)["profit"]
    # revenue: October renewal of starter 49.00 + 0.25 = 49.25;
    # cost: 12,060 × 0.09 / 60 = 18.090000 + A 1.150000 = 19.24; profit 30.01
    assert (profit["revenue"], profit["cost"], profit["profit"]) == ("49.25", "19.24", "30.01")
    november = cli.close("2026-11")
    assert lines(retail(november)) == [
        # 60 s × 0.40 / 60 = 0.400000
        ("voice.overage.outbound", "1.000", "0.40", "0.40"),
        ("plan.fee", "1", "19.00", "19.00"),
        ("number.rental.local", "1", "4.00", "4.00"),
    ]
    # November revenue: renewal at its start: lite 19.00 + A 4.00 (beyond lite's 0 included)
    # + overage 0.40 = 23.40; cost 3,060 × 0.09 / 60 = 4.590000 + A 1.150000 = 5.74
    profit = only_agency(november)["profit"]
    assert (profit["revenue"], profit["cost"], profit["profit"]) == ("23.40", "5.74", "17.66")


def test_late_call_funded_by_wallet_then_postpaid(cli: Cli) -> None:
    cli.apply(catalog())
    cli.import_calls([("c1", "bright-dental", "2026-10-05T09:00:00-04:00", 12000, "outbound")])
    cli.close("2026-10")
    cli.json(
        "credits", "add", "--agency", "acme", "--sub-account", "bright-dental", "--amount", "0.30"
    )
    cli.import_calls(
        [
            # late, October's pool is used up: 125 s → 126 s × 0.20 / 60 = 0.420000;
            # the wallet pays 0.30, 0.12 is postpaid; postpaid seconds 126 × 0.12 / 0.42 = 36 s
            ("late-1", "bright-dental", "2026-10-30T09:00:00-04:00", 125, "inbound"),
        ],
        name="calls-2.csv",
    )
    november = cli.close("2026-11")
    assert lines(retail(november)) == [
        # 36 s = 0.600 min; 0.120000 → 0.12
        ("voice.late_usage", "0.600", None, "0.12"),
        ("plan.fee", "1", "49.00", "49.00"),
    ]
    # the late call's wholesale cost goes on November's wholesale invoice:
    # 125 s = 2.083 min; 125 × 0.07 / 60 = 0.145833 → 0.15
    assert lines(wholesale(november)) == [("voice.inbound", "2.083", "0.07", "0.15")]
    profit = only_agency(november)["profit"]
    # revenue: November renewal 49.00 + late usage 0.12 + credits spent 0.30 = 49.42;
    # cost 0.15; profit 49.27
    assert (profit["revenue"], profit["cost"], profit["profit"]) == ("49.42", "0.15", "49.27")
    # the wallet is empty again: a purchase of 1.00 leaves exactly 1.00
    again = cli.json(
        "credits",
        "add",
        "--agency",
        "acme",
        "--sub-account",
        "bright-dental",
        "--amount",
        "1.00",
        "--reference",
        "second",
    )
    assert again["balance"] == "1.00"


def test_profit_report_excludes_tax(cli: Cli) -> None:
    tax = {"mode": "manual", "rate": "20", "label": "VAT"}
    cli.apply(
        catalog(
            agency("excl", prefix="EXC", tax={**tax, "behavior": "exclusive"}),
            agency("incl", prefix="INC", tax={**tax, "behavior": "inclusive"}),
        )
    )
    calls = [
        ("c1", "bright-dental", "2026-10-02T09:00:00-04:00", 12000, "outbound"),
        # 108 s overage: 0.45 (as in the tax test)
        ("c2", "bright-dental", "2026-10-03T09:00:00-04:00", 103, "outbound"),
    ]
    cli.import_calls(calls, agency="excl", name="excl.csv")
    cli.import_calls(calls, agency="incl", name="incl.csv")
    document = cli.close("2026-10")
    # wholesale: 12,103 s × 0.09 / 60 = 18.154500 → 18.15 for each agency
    excl = only_agency(document, "excl")["profit"]
    # exclusive: the tax is on top, revenue is the lines: 49.00 + 0.45 = 49.45; 49.45 − 18.15
    assert (excl["revenue"], excl["cost"], excl["profit"]) == ("49.45", "18.15", "31.30")
    incl = only_agency(document, "incl")["profit"]
    # inclusive: the lines hold the tax, which is owed to the tax authority, not revenue:
    # October renewal 49.00 − its tax 8.17 = 40.83; overage 0.45 − 0.08 = 0.37; 41.20 − 18.15
    assert (incl["revenue"], incl["cost"], incl["profit"]) == ("41.20", "18.15", "23.05")


def test_closing_an_open_period_is_refused(cli: Cli) -> None:
    cli.apply(catalog())
    # the clock says 2026-12-15: December (New York) has not ended
    result = cli.run("close", "--period", "2026-12", "--json", ok=False)
    assert result.exit_code != 0
    assert result.stdout == ""
    assert "2026-12" in result.stderr
    assert [i["kind"] for i in cli.json("invoices", "list")["data"]] == ["receipt"]
