"""A change of the platform's wholesale card from a later period (issue 15): the catalog's
optional `platform.wholesale_from`. The periods before it are rated and closed on the card in
force before, to the cent; the period named and later on the new card. Driven through the
`rebill` CLI on both stores, numbers worked out by hand (conventions: test_scenarios.py).

Outbound wholesale is 0.09 a minute by the second (`1/1`), the platform fee 0.00; on
2026-10-15 the platform schedules 0.12 a minute and a 10.00 fee from 2026-11."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from rebill.services.catalog.wholesale_schedule import from_problem, later_periods
from tests.e2e.test_plan_versions import (
    CLOSING_AT,
    NOVEMBER_CALL,
    OCTOBER_CALL,
    at,
    opened,
)
from tests.e2e.test_scenarios import Cli, agency, catalog, only_agency, platform, wholesale


def new_card(outbound: str = "0.12", fee: str = "10.00", first: str | None = "2026-11") -> Any:
    entry = copy.deepcopy(platform())
    entry["wholesale"]["voice"]["outbound"]["per_minute"] = outbound
    entry["wholesale"]["agency_monthly_fee"] = fee
    if first is not None:
        entry["wholesale_from"] = first
    return {"platform": entry}


def start(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    at(monkeypatch, "2026-10-01T12:00:00Z")
    cli.apply(catalog(agency()))


def schedule(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    start(cli, monkeypatch)
    at(monkeypatch, "2026-10-15T12:00:00Z")
    cli.apply(new_card(), "schedule.yaml")


def voice_and_fee(document: dict[str, Any]) -> tuple[tuple[str, str, str], str]:
    lines = {ln["code"]: ln for ln in wholesale(document)["lines"]}
    voice = lines["voice.outbound"]
    fee = lines["platform.fee"]["amount"] if "platform.fee" in lines else "none"
    return (voice["quantity"], voice["unit_price"], voice["amount"]), fee


def outbound_per_minute(cli: Cli, period: str | None) -> int:
    with opened(cli) as app, app.uow() as uow:
        return uow.for_agency("acme").wholesale.card(period).voice["outbound"].per_minute_micros


def test_months_before_the_change_keep_the_old_card(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    schedule(cli, monkeypatch)
    at(monkeypatch, CLOSING_AT)
    cli.import_calls([OCTOBER_CALL, NOVEMBER_CALL])
    october, november = cli.close("2026-10"), cli.close("2026-11")
    # 12,060 s by the second = 201 minutes: 201 × 0.09 = 18.09 in October, 201 × 0.12 = 24.12
    # in November; the fee 0.00, then 10.00.
    assert voice_and_fee(october) == (
        ("201.000", "0.09", "18.09"),
        "none",
    )  # a zero line is left out
    assert voice_and_fee(november) == (("201.000", "0.12", "24.12"), "10.00")
    assert only_agency(october)["profit"]["cost"] == "18.09"
    assert only_agency(november)["profit"]["cost"] == "34.12"  # with the platform fee


def test_the_schedule_is_audited_and_the_card_in_force_is_unchanged(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    schedule(cli, monkeypatch)
    assert outbound_per_minute(cli, "2026-10") == 90_000
    assert outbound_per_minute(cli, None) == 90_000
    assert outbound_per_minute(cli, "2026-11") == 120_000
    assert outbound_per_minute(cli, "2027-06") == 120_000
    with opened(cli) as app, app.uow() as uow:
        [scheduled] = uow.platform.wholesale.scheduled()
        entries = uow.platform.audit.latest(20)
    assert scheduled.period == "2026-11"
    assert scheduled.card.agency_monthly_fee_micros == 10_000_000
    changed = {(e.field, e.old_value, e.new_value) for e in entries}
    assert ("wholesale_from", "none", "2026-11") in changed
    assert ("wholesale.voice.outbound.per_minute", "0.09", "0.12") in changed


@pytest.mark.parametrize(
    ("now", "first"),
    [
        ("2026-10-15T12:00:00Z", "2026-10"),  # the current period
        ("2026-10-15T12:00:00Z", "2026-09"),  # a past one
        ("2026-10-31T11:00:00Z", "2026-11"),  # already November at UTC+14
    ],
)
def test_a_period_that_has_begun_anywhere_is_refused_and_nothing_changes(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, now: str, first: str
) -> None:
    start(cli, monkeypatch)
    at(monkeypatch, now)
    path = cli.folder / "late.yaml"
    path.write_text(yaml.safe_dump(new_card(first=first)), encoding="utf-8")
    result = cli.run("apply", str(path), ok=False)
    assert result.exit_code != 0
    assert "platform.wholesale_from" in result.output
    assert "has already begun" in result.output
    assert outbound_per_minute(cli, None) == 90_000
    assert outbound_per_minute(cli, "2027-12") == 90_000
    with opened(cli) as app, app.uow() as uow:
        assert uow.platform.wholesale.scheduled() == []


def test_an_at_once_change_supersedes_begun_schedules_and_keeps_later_ones(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    schedule(cli, monkeypatch)
    at(monkeypatch, "2026-10-20T12:00:00Z")
    cli.apply(new_card(outbound="0.15", fee="20.00", first="2027-01"), "later.yaml")
    at(monkeypatch, "2026-11-10T12:00:00Z")
    # Re-applying the card in force (November's) changes nothing, schedules included.
    cli.apply(new_card(first=None), "same.yaml")
    with opened(cli) as app, app.uow() as uow:
        assert [c.period for c in uow.platform.wholesale.scheduled()] == ["2026-11", "2027-01"]
    # At once: 0.10 from now; November's schedule (begun) is superseded, January's stays.
    cli.apply(new_card(outbound="0.10", fee="10.00", first=None), "now.yaml")
    with opened(cli) as app, app.uow() as uow:
        assert [c.period for c in uow.platform.wholesale.scheduled()] == ["2027-01"]
    assert outbound_per_minute(cli, "2026-11") == 100_000
    assert outbound_per_minute(cli, "2027-01") == 150_000
    at(monkeypatch, CLOSING_AT)
    cli.import_calls([NOVEMBER_CALL])
    cli.close("2026-10")
    november = cli.close("2026-11")
    assert voice_and_fee(november) == (("201.000", "0.10", "20.10"), "10.00")


def test_the_console_offers_only_periods_that_have_begun_nowhere() -> None:
    now = datetime(2026, 12, 31, 10, 30, tzinfo=UTC)  # January already, at UTC+14
    assert later_periods(now, 2) == ["2027-02", "2027-03"]
    assert from_problem("2027-01", now) is not None
    assert from_problem("2027-02", now) is None
    assert from_problem("2027-13", now) is not None


def test_the_cli_shows_and_cancels_a_scheduled_change(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    schedule(cli, monkeypatch)
    shown = cli.json("wholesale", "show")
    assert shown["period"] == "2026-10"
    assert shown["in_force"]["voice"]["outbound"]["per_minute"] == "0.09"
    [change] = shown["scheduled"]
    assert change["from"] == "2026-11" and change["scheduled_by"] == "operator (cli)"
    assert change["wholesale"]["voice"]["outbound"]["per_minute"] == "0.12"
    assert change["wholesale"]["agency_monthly_fee"] == "10.00"
    text = cli.run("wholesale", "show").output
    assert "from 2026-11: inbound 0.07/min, outbound 0.12/min" in text
    unknown = cli.run("wholesale", "cancel", "--period", "2027-03", ok=False)
    assert unknown.exit_code != 0 and "no wholesale change is scheduled for 2027-03" in (
        unknown.output
    )
    assert cli.run("wholesale", "cancel", "--period", "2026-11").exit_code == 0
    assert cli.json("wholesale", "show")["scheduled"] == []
    assert outbound_per_minute(cli, "2026-11") == 90_000
    # Once a change has begun somewhere it can no longer be cancelled, only superseded.
    cli.apply(new_card(first="2026-12"), "december.yaml")
    at(monkeypatch, "2026-11-30T12:00:00Z")  # already December at UTC+14
    begun = cli.run("wholesale", "cancel", "--period", "2026-12", ok=False)
    assert begun.exit_code != 0 and "has begun" in begun.output
    assert outbound_per_minute(cli, "2026-12") == 120_000
