"""Caps, authorization and alerts end to end through the `rebill` CLI (BILLING_MODEL §5, §7, §8).

The clock (`REBILL_NOW`) is set INSIDE the month under test (2026-10-20T12:00:00Z) because
`authorize` decides against the current period; it is moved after the month to close it.

Setup (hand computations below use it):
- platform wholesale outbound 0.09/min, inbound 0.07/min, both `1/1`; agency `acme`,
  America/New_York, tax none (October 2026 = [2026-10-01T04:00Z, 2026-11-01T04:00Z));
- plan `payg`: 10.00/month, PREPAID, 2 included minutes (120 s), outbound 0.25/min and inbound
  0.20/min at `60/6` (grid 60, 66, 72, …), parallel_calls 2;
- plan `flex`: the same but postpaid (for the parallel-call and state tests);
- sub-account `bright-dental` on `payg`, alerts [0.5, 0.8, 1.0] with a notify spend cap of 2.00,
  auto top-up below 0.50.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller
from typer.testing import CliRunner, Result

from rebill.bootstrap import build
from rebill.config import Settings
from rebill.entrypoints.cli.app import app

IN_OCTOBER = "2026-10-20T12:00:00Z"
AFTER_OCTOBER = "2026-11-02T12:00:00Z"
EMAIL = "billing@bright-dental.example"


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


@dataclass
class Inbox:
    messages: list[tuple[list[str], Message]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"

    def bodies(self) -> list[str]:
        return [str(m.get_payload()).strip() for _, m in self.messages]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def inbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """A local SMTP server; the CLI e-mails alerts to it after `usage import` and `authorize`."""
    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("REBILL_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("REBILL_SMTP_PORT", str(port))
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture(autouse=True)
def in_october(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REBILL_NOW", IN_OCTOBER)
    monkeypatch.delenv("REBILL_SMTP_HOST", raising=False)
    monkeypatch.delenv("REBILL_SMTP_PORT", raising=False)


class Cli:
    def __init__(self, db: str, folder: Path) -> None:
        self.db, self.folder = db, folder
        self.runner = CliRunner()
        self.files = 0

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

    def apply(self, document: dict[str, Any]) -> Any:
        path = self.folder / "catalog.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        return self.json("apply", str(path))

    def authorize(
        self, call_id: str | None = None, sub: str = "bright-dental", direction: str = "outbound"
    ) -> dict[str, Any]:
        args = ["authorize", "--agency", "acme", "--sub-account", sub, "--direction", direction]
        if call_id:
            args += ["--call-id", call_id]
        document: dict[str, Any] = self.json(*args)
        assert set(document) >= {
            "allowed",
            "max_duration_seconds",
            "reason",
            "call_id",
            "slot_expires_at",
        }
        return document

    def call(self, call_id: str, started_at: str, duration: int, sub: str = "bright-dental") -> Any:
        self.files += 1
        path = self.folder / f"calls-{self.files}.jsonl"
        row = {
            "call_id": call_id,
            "sub_account": sub,
            "started_at": started_at,
            "duration_seconds": duration,
            "direction": "outbound",
        }
        path.write_text(json.dumps(row) + "\n", encoding="utf-8")
        return self.json("usage", "import", str(path), "--agency", "acme")

    def caps(self, *args: str, ok: bool = True) -> Result:
        return self.run(
            "caps", "set", "--agency", "acme", "--sub-account", "bright-dental", *args, ok=ok
        )

    def alerts(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.json("alerts", "list")["data"]
        return rows


@pytest.fixture
def cli(db_url: str, tmp_path: Path) -> Cli:
    return Cli(db_url, tmp_path)


def plan(plan_id: str, overage: str) -> dict[str, Any]:
    return {
        "id": plan_id,
        "name": plan_id.title(),
        "monthly_fee": "10.00",
        "included_minutes": 2,
        "overage": overage,
        "voice": {
            "outbound": {"overage_per_minute": "0.25", "increment": "60/6"},
            "inbound": {"overage_per_minute": "0.20", "increment": "60/6"},
        },
        "numbers": {"included": 0, "local": {"monthly": "3.00"}},
        "limits": {"campaigns": 5, "numbers": 5, "parallel_calls": 2},
    }


def catalog(plan_id: str = "payg") -> dict[str, Any]:
    return {
        "platform": {
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
        },
        "agencies": [
            {
                "id": "acme",
                "name": "Acme Voice AI",
                "timezone": "America/New_York",
                "invoice_prefix": "ACME",
                "tax": {"mode": "none"},
                "plans": [plan("payg", "prepaid"), plan("flex", "postpaid")],
                "sub_accounts": [
                    {
                        "id": "bright-dental",
                        "name": "Bright Dental",
                        "email": EMAIL,
                        "country": "US",
                        "plan": plan_id,
                        "subscribed_at": "2026-09-01T00:00:00-04:00",
                        "caps": {
                            "monthly_spend": "2.00",
                            "alerts": ["0.5", "0.8", "1.0"],
                            "enforcement": "notify",
                        },
                        "auto_top_up": {"threshold": "0.50", "amount": "20.00"},
                    }
                ],
            }
        ],
    }


def state_changes(db: str) -> list[dict[str, Any]]:
    rebill = build(Settings(database_url=db), migrate_schema=False)
    try:
        with rebill.uow() as uow:
            changes = uow.for_agency("acme").sub_accounts.state_changes("bright-dental")
        return [
            {
                "at": c.changed_at.isoformat(),
                "from": c.from_state,
                "to": c.to_state,
                "by": c.actor,
                "reason": c.reason,
            }
            for c in changes
        ]
    finally:
        rebill.dispose()


# ---------------------------------------------------------------------------------------------
# prepaid plan, wallet runs out mid-month
# ---------------------------------------------------------------------------------------------


def test_prepaid_wallet_runs_out_mid_month(
    cli: Cli, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.apply(catalog())
    receipt = cli.json(
        "credits", "add", "--agency", "acme", "--sub-account", "bright-dental", "--amount", "1.01"
    )
    assert receipt["balance"] == "1.01"

    # 1. pool 120 s + wallet 1.01 → (60 × 1.010000 + …) / 0.25 = 242.4 s → 242 s of overage;
    #    362 s → grid 60 + 50 × 6 = 360
    first = cli.authorize("c1")
    assert (first["allowed"], first["max_duration_seconds"], first["reason"]) == (True, 360, None)
    assert first["call_id"] == "c1"
    assert first["slot_expires_at"] is not None
    #    the call lasts 150 s: 120 s in the pool, 30 s overage = 30 × 0.25 / 60 = 0.125000
    #    → wallet 1.010000 − 0.125000 = 0.885000; the pool is used up → 0.5, 0.8, 1.0 of the
    #    included minutes fire
    assert cli.call("c1", "2026-10-20T08:00:00Z", 150)["imported"] == 1

    # 2. wallet 0.885 → 0.885 / 0.25 × 60 = 212.4 s → 212 → grid 60 + 25 × 6 = 210
    second = cli.authorize("c2")
    assert (second["allowed"], second["max_duration_seconds"]) == (True, 210)
    #    the call lasts 95 s → bills 60 + ceil(35 / 6) × 6 = 96 s = 0.400000 → wallet 0.485000,
    #    below the 0.50 threshold → wallet_low fires (and an auto top-up is requested, pending)
    assert cli.call("c2", "2026-10-20T09:00:00Z", 95)["imported"] == 1

    # 3. wallet 0.485 → 116.4 s → 116 → grid 60 + 9 × 6 = 114
    third = cli.authorize("c3")
    assert (third["allowed"], third["max_duration_seconds"]) == (True, 114)
    #    a call of exactly the authorized 114 s: 114 × 0.25 / 60 = 0.475000 → wallet 0.010000;
    #    spend so far 0.125 + 0.400 + 0.475 = 1.000 = 0.5 of the 2.00 (notify) cap → fires
    assert cli.call("c3", "2026-10-20T10:00:00Z", 114)["imported"] == 1

    # 4. wallet 0.01 → 2.4 s < the first interval of 60 s → refused
    refused = cli.authorize("c4")
    assert (refused["allowed"], refused["max_duration_seconds"], refused["reason"]) == (
        False,
        0,
        "insufficient_credits",
    )
    assert refused["slot_expires_at"] is None  # a refused call holds no slot

    # 5. a late record that was never authorized: 300 s (on the grid) = 300 × 0.25 / 60 = 1.25;
    #    the wallet pays its 0.010000, 1.240000 is postpaid debt; postpaid seconds = 300 ×
    #    1.24 / 1.25 = 297.6 s = 4.960 min. Spend 1.000 + 1.250 = 2.25 ≥ 0.8 and 1.0 of the cap
    assert cli.call("c5", "2026-10-20T11:00:00Z", 300)["imported"] == 1
    # still refused, and the wallet is at zero, not below
    assert cli.authorize("c6")["reason"] == "insufficient_credits"

    summary = cli.json("usage", "summary", "--agency", "acme", "--period", "2026-10")
    (row,) = summary["sub_accounts"]
    # billable 150 + 96 + 114 + 300 = 660 s = 11.000 min; included 120 s = 2.000; credits
    # 30 + 96 + 114 + (300 − 297.6) = 242.4 s = 4.040 min; postpaid 297.6 s = 4.960 min
    assert (
        row["billable_minutes"],
        row["included_minutes_used"],
        row["credit_minutes"],
        row["postpaid_minutes"],
    ) == ("11.000", "2.000", "4.040", "4.960")

    # the alert e-mails: 3 included-minutes, 1 wallet_low, 3 spend = 7, each exactly once
    expected_alerts = {
        ("included_minutes", "2026-10"): 3,
        ("wallet_low", "2026-10"): 1,
        ("monthly_spend", "2026-10"): 3,
    }
    rows = cli.alerts()
    counted: dict[tuple[str, str], int] = {}
    for alert in rows:
        key = (alert["metric"], alert["period"])
        counted[key] = counted.get(key, 0) + 1
        assert alert["sub_account"] == "bright-dental"
        assert alert["delivered_at"] is not None
    assert counted == expected_alerts
    assert len(inbox.messages) == 7
    assert len(set(inbox.bodies())) == 7
    assert all(recipients == [EMAIL] for recipients, _ in inbox.messages)
    bodies = "\n".join(inbox.bodies())
    for percent in ("50%", "80%", "100%"):
        assert f"Bright Dental reached {percent} of its included minutes used in 2026-10" in bodies
        assert f"Bright Dental reached {percent} of its monthly spend cap in 2026-10" in bodies
    assert "Bright Dental's credits are below 0.50 USD" in bodies
    # nothing is sent twice: deliver again, and re-import a call
    cli.run("alerts", "deliver")
    cli.call("c5", "2026-10-20T11:00:00Z", 300)
    assert len(inbox.messages) == 7

    # close October: the postpaid debt is on the invoice, not lost
    monkeypatch.setenv("REBILL_NOW", AFTER_OCTOBER)
    closed = cli.json("close", "--period", "2026-10")
    (agency,) = closed["agencies"]
    (invoice,) = agency["retail_invoices"]
    assert invoice["sub_account"] == "bright-dental"
    lines = {line["code"]: line for line in invoice["lines"]}
    overage = lines["voice.overage.outbound"]
    # 297.6 s = 4.960 min at 0.25 = 1.240000 → 1.24
    assert (overage["quantity"], overage["unit_price"], overage["amount"]) == (
        "4.960",
        "0.25",
        "1.24",
    )
    assert lines["plan.fee"]["amount"] == "10.00"  # November, in advance
    assert invoice["usage"]["postpaid_minutes"] == "4.960"
    assert invoice["usage"]["credit_minutes"] == "4.040"
    assert invoice["total"] == "11.24"  # 1.24 + 10.00, tax none
    assert len(inbox.messages) == 7


# ---------------------------------------------------------------------------------------------
# parallel calls
# ---------------------------------------------------------------------------------------------


def test_parallel_call_slots(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli.apply(catalog("flex"))  # postpaid: unbounded, only the parallel limit (2) refuses
    a = cli.authorize("p1")
    b = cli.authorize("p2")
    assert (a["allowed"], a["max_duration_seconds"], a["reason"]) == (True, None, None)
    assert (b["allowed"], b["max_duration_seconds"]) == (True, None)
    third = cli.authorize("p3")
    assert (third["allowed"], third["reason"]) == (False, "parallel_calls_limit")
    # a refusal takes no slot: still refused
    assert cli.authorize("p4")["reason"] == "parallel_calls_limit"
    # the record of p1 frees its slot
    assert cli.call("p1", "2026-10-20T11:00:00Z", 30)["imported"] == 1
    assert cli.authorize("p3")["allowed"] is True
    assert cli.authorize("p5")["reason"] == "parallel_calls_limit"
    # unbounded slots time out after 4 h: at 16:00:01Z p2 and p3 (taken at 12:00) are gone
    monkeypatch.setenv("REBILL_NOW", "2026-10-20T16:00:01Z")
    assert cli.authorize("p6")["allowed"] is True
    assert cli.authorize("p7")["allowed"] is True
    assert cli.authorize("p8")["reason"] == "parallel_calls_limit"


def test_reauthorizing_the_same_call_refreshes_its_slot_at_the_limit(cli: Cli) -> None:
    cli.apply(catalog("flex"))
    assert cli.authorize("p1")["allowed"] is True
    assert cli.authorize("p2")["allowed"] is True
    # p1 already holds one of the 2 slots: asking again refreshes it, it takes no new one
    again = cli.authorize("p1")
    assert (again["allowed"], again["reason"]) == (True, None)
    assert cli.authorize("p3")["reason"] == "parallel_calls_limit"


def test_reauthorizing_the_same_call_takes_one_slot(cli: Cli) -> None:
    cli.apply(catalog("flex"))
    assert cli.authorize("p1")["allowed"] is True
    assert cli.authorize("p1")["allowed"] is True  # the same call again: one slot, refreshed
    assert cli.authorize("p2")["allowed"] is True  # so the second slot is still free
    assert cli.authorize("p3")["reason"] == "parallel_calls_limit"


def test_agency_credit_limit_refuses_calls_and_alerts_once(cli: Cli) -> None:
    document = catalog("flex")
    document["agencies"][0]["credit_limit"] = "1.00"
    cli.apply(document)
    assert cli.authorize()["allowed"] is True
    # wholesale 600 s × 0.09 / 60 = 0.90 < 1.00: still allowed
    cli.call("w1", "2026-10-20T08:00:00Z", 600)
    assert cli.authorize()["allowed"] is True
    # + 100 s × 0.09 / 60 = 0.15 → exposure 1.05 ≥ 1.00: refused
    cli.call("w2", "2026-10-20T09:00:00Z", 100)
    refused = cli.authorize("w3")
    assert (refused["allowed"], refused["reason"]) == (False, "agency_credit_limit")
    assert cli.authorize()["reason"] == "agency_credit_limit"
    limit_alerts = [a for a in cli.alerts() if a["metric"] == "agency_credit_limit"]
    assert [(a["agency"], a["sub_account"], a["period"]) for a in limit_alerts] == [
        ("acme", None, "2026-10")
    ]


def test_bounded_slot_expires_after_its_longest_call(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.apply(catalog("payg"))
    cli.run("credits", "add", "--agency", "acme", "--sub-account", "bright-dental", "--amount", "1")
    # pool 120 s + 1.00 = 240 s → 360; the slot is held 360 + 120 s grace = 8 min
    a = cli.authorize("s1")
    assert a["max_duration_seconds"] == 360
    assert a["slot_expires_at"].startswith("2026-10-20T12:08:00")
    cli.authorize("s2")
    assert cli.authorize("s3")["reason"] == "parallel_calls_limit"
    monkeypatch.setenv("REBILL_NOW", "2026-10-20T12:08:01Z")
    assert cli.authorize("s3")["allowed"] is True


# ---------------------------------------------------------------------------------------------
# account states
# ---------------------------------------------------------------------------------------------


def test_suspended_sub_account_is_refused(
    cli: Cli, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.apply(catalog("flex"))
    assert cli.authorize("x1")["allowed"] is True
    changed = cli.json(
        "sub-accounts",
        "state",
        "--agency",
        "acme",
        "--sub-account",
        "bright-dental",
        "--state",
        "suspended",
        "--by",
        "alice",
    )
    assert changed == {
        "sub_account": "bright-dental",
        "from": "active",
        "to": "suspended",
        "by": "alice",
    }
    refused = cli.authorize("x2")
    assert (refused["allowed"], refused["max_duration_seconds"], refused["reason"]) == (
        False,
        0,
        "sub_account_suspended",
    )
    (change,) = state_changes(db_url)
    assert (change["from"], change["to"], change["by"]) == ("active", "suspended", "alice")
    assert change["at"].startswith("2026-10-20T12:00:00")
    # reactivated five minutes later: allowed again, and the change is recorded too
    monkeypatch.setenv("REBILL_NOW", "2026-10-20T12:05:00Z")
    cli.run(
        "sub-accounts",
        "state",
        "--agency",
        "acme",
        "--sub-account",
        "bright-dental",
        "--state",
        "active",
        "--by",
        "bob",
    )
    assert cli.authorize("x3")["allowed"] is True
    assert [(c["to"], c["by"]) for c in state_changes(db_url)] == [
        ("suspended", "alice"),
        ("active", "bob"),
    ]


def test_two_state_changes_in_the_same_instant_are_both_recorded(cli: Cli, db_url: str) -> None:
    cli.apply(catalog("flex"))
    base = ["sub-accounts", "state", "--agency", "acme", "--sub-account", "bright-dental"]
    cli.run(*base, "--state", "suspended", "--by", "alice")
    cli.run(*base, "--state", "active", "--by", "bob")  # same REBILL_NOW
    assert [(c["to"], c["by"]) for c in state_changes(db_url)] == [
        ("suspended", "alice"),
        ("active", "bob"),
    ]
    assert cli.authorize("y1")["allowed"] is True


# ---------------------------------------------------------------------------------------------
# bad input: clear errors, nothing changed
# ---------------------------------------------------------------------------------------------


def test_unknown_sub_account(cli: Cli) -> None:
    cli.apply(catalog())
    result = cli.run(
        "authorize",
        "--agency",
        "acme",
        "--sub-account",
        "nobody",
        "--direction",
        "outbound",
        "--json",
        ok=False,
    )
    assert result.exit_code == 4
    assert "nobody" in result.stderr
    assert result.stdout == ""
    caps = cli.run(
        "caps", "set", "--agency", "acme", "--sub-account", "nobody", "--alerts", "0.5", ok=False
    )
    assert caps.exit_code == 4
    assert "nobody" in caps.stderr


def test_unknown_direction(cli: Cli) -> None:
    cli.apply(catalog())
    result = cli.run(
        "authorize",
        "--agency",
        "acme",
        "--sub-account",
        "bright-dental",
        "--direction",
        "sideways",
        "--call-id",
        "d1",
        "--json",
        ok=False,
    )
    assert result.exit_code != 0
    assert "direction" in result.stderr
    assert "sideways" in result.stderr
    assert result.stdout == ""


CAPS_BEFORE = {
    "sub_account": "bright-dental",
    "monthly_minutes": None,
    "alerts": ["0.5", "0.8", "1"],
    "enforcement": "notify",
}


@pytest.mark.parametrize(
    ("args", "field_names"),
    [
        (("--monthly-spend", "-5"), ("--monthly-spend",)),
        (("--alerts", "1.5"), ("--alerts",)),
        (("--alerts", "0"), ("--alerts",)),
        (("--alerts", "0.5,-0.1"), ("--alerts",)),
        (("--monthly-minutes", "-1"), ("--monthly-minutes",)),
        (("--enforcement", "maybe"), ("--enforcement",)),
        # one bad value spoils the whole change: the good spend cap is not applied either
        (("--monthly-spend", "50", "--alerts", "1.5"), ("--alerts",)),
        (("--monthly-spend", "-5", "--alerts", "0"), ("--monthly-spend", "--alerts")),
    ],
)
def test_bad_caps_are_refused_and_change_nothing(
    cli: Cli, args: tuple[str, ...], field_names: tuple[str, ...]
) -> None:
    cli.apply(catalog())
    before = json.loads(cli.caps("--json").stdout)
    result = cli.caps(*args, "--json", ok=False)
    assert result.exit_code == 1
    assert result.stdout == ""
    for name in field_names:
        assert name in result.stderr
    after = json.loads(cli.caps("--json").stdout)
    assert after == before


def test_caps_set_changes_authorization(cli: Cli) -> None:
    cli.apply(catalog())
    caps = json.loads(cli.caps("--json").stdout)
    assert Decimal(caps.pop("monthly_spend")) == Decimal("2.00")
    assert caps == CAPS_BEFORE
    cli.run("credits", "add", "--agency", "acme", "--sub-account", "bright-dental", "--amount", "5")
    # pool 120 s + 5.00 = 1,200 s → 1,320 s
    assert cli.authorize()["max_duration_seconds"] == 1_320
    # a blocking minutes cap of 10 min = 600 s binds first → 600 (on the grid: 60 + 90 × 6)
    changed = json.loads(
        cli.caps("--monthly-minutes", "10", "--enforcement", "block", "--json").stdout
    )
    assert (changed["monthly_minutes"], changed["enforcement"]) == (10, "block")
    assert cli.authorize()["max_duration_seconds"] == 600
    # a blocking spend cap of 0.30 (72 s of overage) on top of the pool → 192 (60 + 22 × 6)
    cli.caps("--monthly-spend", "0.30")
    assert cli.authorize()["max_duration_seconds"] == 192
    # a rejected change keeps these caps in force
    assert cli.caps("--monthly-spend", "-5", ok=False).exit_code == 1
    assert cli.authorize()["max_duration_seconds"] == 192
    # back to notify: only the wallet limits
    cli.caps("--enforcement", "notify")
    assert cli.authorize()["max_duration_seconds"] == 1_320
    # 'none' clears the caps
    cli.caps("--monthly-spend", "none", "--monthly-minutes", "none", "--enforcement", "block")
    assert cli.authorize()["max_duration_seconds"] == 1_320


def test_number_limit_is_enforced_when_numbers_are_rented(tmp_path: Path) -> None:
    """BILLING_MODEL §8: limits on numbers are enforced when a number is rented; a catalog
    that would exceed the limit is refused whole, with the path at fault."""
    from typer.testing import CliRunner

    from rebill.entrypoints.cli.app import app

    db = f"sqlite:///{tmp_path / 'limits.db'}"
    document = {
        "platform": {
            "name": "P",
            "currency": "USD",
            "wholesale": {
                "voice": {"outbound": {"per_minute": "0.09"}, "inbound": {"per_minute": "0.07"}}
            },
        },
        "agencies": [
            {
                "id": "acme",
                "name": "Acme",
                "invoice_prefix": "ACME",
                "plans": [
                    {
                        "id": "p",
                        "name": "P",
                        "monthly_fee": "10.00",
                        "voice": {
                            "outbound": {"overage_per_minute": "0.25"},
                            "inbound": {"overage_per_minute": "0.20"},
                        },
                        "limits": {"numbers": 1},
                    }
                ],
                "sub_accounts": [
                    {
                        "id": "s",
                        "name": "S",
                        "plan": "p",
                        "subscribed_at": "2026-10-01T00:00:00Z",
                        "numbers": [{"e164": "+15550000001"}, {"e164": "+15550000002"}],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(document))
    refused = CliRunner().invoke(app, ["apply", str(path), "--db", db])
    assert refused.exit_code == 1
    assert "agencies[0].sub_accounts[0].numbers" in refused.output
    assert "limit is 1" in refused.output
    document["agencies"][0]["sub_accounts"][0]["limits"] = {"numbers": 2}  # an override
    path.write_text(json.dumps(document))
    assert CliRunner().invoke(app, ["apply", str(path), "--db", db]).exit_code == 0
