"""Plan versions (issue 15): a change to a plan that clients are on reaches them "from the next
period" (the current period keeps billing on the old terms, to the cent) or for "new clients
only" (the clients on it keep the old terms until moved; a new client gets the new terms),
through the catalog's optional `takes_effect`. Driven through the `rebill` CLI on both stores,
with the expected numbers worked out by hand (conventions: tests/e2e/test_scenarios.py).

The change is applied on 2026-10-15; `starter` goes from 49.00 a month and outbound 0.25/min to
59.00 and 0.40/min (200 included minutes, `60/6`, as before)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text

from rebill.adapters.db.engine import alembic_config, make_engine
from rebill.bootstrap import App, build
from rebill.config import Settings
from tests.e2e.test_scenarios import (
    STARTER,
    Cli,
    agency,
    catalog,
    lines,
    only_agency,
    retail,
    sub_account,
    totals,
)

CHANGED_AT = "2026-10-15T12:00:00Z"
CLOSING_AT = "2026-12-15T12:00:00Z"


def new_starter(takes_effect: str | None) -> dict[str, Any]:
    plan = copy.deepcopy(STARTER)
    plan["monthly_fee"] = "59.00"
    plan["voice"]["outbound"]["overage_per_minute"] = "0.40"
    if takes_effect is not None:
        plan["takes_effect"] = takes_effect
    return plan


def at(monkeypatch: pytest.MonkeyPatch, instant: str) -> None:
    monkeypatch.setenv("REBILL_NOW", instant)


def change_starter(cli: Cli, monkeypatch: pytest.MonkeyPatch, takes_effect: str | None) -> Any:
    at(monkeypatch, "2026-10-01T12:00:00Z")
    cli.apply(catalog(agency(plans=[STARTER], subs=[sub_account()])))
    at(monkeypatch, CHANGED_AT)
    return cli.apply(
        catalog(agency(plans=[new_starter(takes_effect)], subs=[sub_account()])), "change.yaml"
    )


# 12,060 s at 60/6 → 12,060 s; 12,000 s (200 min) included; 60 s beyond = 1.000 minute.
OCTOBER_CALL = ("c1", "bright-dental", "2026-10-20T09:00:00-04:00", 12060, "outbound")
NOVEMBER_CALL = ("c2", "bright-dental", "2026-11-05T09:00:00-05:00", 12060, "outbound")


def close_two_months(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    at(monkeypatch, CLOSING_AT)
    cli.import_calls([OCTOBER_CALL, NOVEMBER_CALL])
    return cli.close("2026-10"), cli.close("2026-11")


def test_at_once_is_still_the_default(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    change_starter(cli, monkeypatch, None)
    october, _ = close_two_months(cli, monkeypatch)
    # The October call is rated at the new 0.40: 60 s × 0.40 / 60 = 0.40.
    assert lines(retail(october))[0] == ("voice.overage.outbound", "1.000", "0.40", "0.40")


def test_from_the_next_period_bills_this_month_on_the_old_terms(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    change_starter(cli, monkeypatch, "next_period")
    assert plan_of(cli) == "starter"  # the client is on the same plan throughout
    october, november = close_two_months(cli, monkeypatch)
    assert lines(retail(october)) == [
        # October keeps the old terms: 60 s × 0.25 / 60 = 0.25
        ("voice.overage.outbound", "1.000", "0.25", "0.25"),
        # November in advance, on the new terms
        ("plan.fee", "1", "59.00", "59.00"),
    ]
    assert totals(retail(october)) == ("59.25", "0.00", "59.25")
    assert lines(retail(november)) == [
        # November on the new terms: 60 s × 0.40 / 60 = 0.40
        ("voice.overage.outbound", "1.000", "0.40", "0.40"),
        ("plan.fee", "1", "59.00", "59.00"),
    ]
    assert totals(retail(november)) == ("59.40", "0.00", "59.40")
    # Profit: October's renewal at the old 49.00 + 0.25, November's at the new 59.00 + 0.40;
    # cost 12,060 × 0.09 / 60 = 18.09 each month.
    profits = [only_agency(m)["profit"] for m in (october, november)]
    assert [(p["revenue"], p["cost"], p["profit"]) for p in profits] == [
        ("49.25", "18.09", "31.16"),
        ("59.40", "18.09", "41.31"),
    ]


def test_new_clients_only_keeps_the_clients_terms_and_bills_a_new_client_on_the_new(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    applied = change_starter(cli, monkeypatch, "new_clients")
    assert applied["receipts"] == []  # nothing charged by the change
    # A new client on starter, and a control client on a plan with the new terms from the
    # start: both subscribe on 2026-10-20 and make the same calls.
    control = {**new_starter(None), "id": "control", "name": "Control"}
    at(monkeypatch, "2026-10-20T04:00:00Z")
    newcomers = [
        sub_account(),
        sub_account("coastal", subscribed_at="2026-10-20T00:00:00-04:00"),
        sub_account("twin", plan="control", subscribed_at="2026-10-20T00:00:00-04:00"),
    ]
    applied = cli.apply(
        catalog(agency(plans=[new_starter("new_clients"), control], subs=newcomers)), "new.yaml"
    )
    # The prorated first month at the new 59.00 for both: 12 of 31 days = 22.84
    assert sorted(r[2] for r in cli.receipts()[-2:]) == ["22.84", "22.84"]
    at(monkeypatch, CLOSING_AT)
    cli.import_calls(
        [
            OCTOBER_CALL,
            NOVEMBER_CALL,
            *[
                (f"{sub}-{i}", sub, started, 12060, "outbound")
                for sub in ("coastal", "twin")
                for i, started in enumerate(
                    ("2026-10-21T09:00:00-04:00", "2026-11-06T09:00:00-05:00")
                )
            ],
        ]
    )
    october, november = cli.close("2026-10"), cli.close("2026-11")
    for month in (october, november):
        # The existing client: the old 0.25 and 49.00, month after month.
        assert lines(retail(month)) == [
            ("voice.overage.outbound", "1.000", "0.25", "0.25"),
            ("plan.fee", "1", "49.00", "49.00"),
        ]
        assert totals(retail(month)) == ("49.25", "0.00", "49.25")
        # The new client: exactly what a plan with the new terms bills.
        assert lines(retail(month, "coastal")) == lines(retail(month, "twin"))
        assert totals(retail(month, "coastal")) == totals(retail(month, "twin"))
    assert ("plan.fee", "1", "59.00", "59.00") in lines(retail(november, "coastal"))
    assert lines(retail(november, "coastal"))[0][2] == "0.40"
    assert plan_of(cli) == "starter"


def test_the_choice_is_audited_with_the_change(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    change_starter(cli, monkeypatch, "next_period")
    with opened(cli) as app, app.uow() as uow:
        entries = uow.for_agency("acme").audit.latest(50)
    changed = {(e.field, e.old_value, e.new_value) for e in entries}
    assert ("monthly_fee", "49.00", "59.00") in changed
    assert ("takes_effect", "none", "next_period") in changed


@contextmanager
def opened(cli: Cli) -> Iterator[App]:
    app = build(Settings(database_url=cli.db))
    try:
        yield app
    finally:
        app.engine.dispose()


def plan_of(cli: Cli, sub_id: str = "bright-dental") -> str:
    """The plan the client is on (its latest change), as every reader sees it."""
    with opened(cli) as app, app.uow() as uow:
        history = uow.for_agency("acme").plans.history_of(sub_id)
    return history[-1].plan.id


LITE: dict[str, Any] = {
    **copy.deepcopy(STARTER),
    "id": "lite",
    "name": "Lite",
    "monthly_fee": "19.00",
    "included_minutes": 50,
}


def test_a_client_moved_away_and_back_takes_the_plans_terms_from_the_next_period(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    change_starter(cli, monkeypatch, "new_clients")
    plans = [new_starter(None), LITE]
    at(monkeypatch, "2026-10-16T12:00:00Z")  # a downgrade to lite, due on November 1
    cli.apply(catalog(agency(plans=plans, subs=[sub_account(plan="lite")])), "lite.yaml")
    at(monkeypatch, "2026-10-17T12:00:00Z")  # back to starter: the downgrade is cancelled
    cli.apply(catalog(agency(plans=plans, subs=[sub_account()])), "back.yaml")
    october, november = close_two_months(cli, monkeypatch)
    # October stays on the kept terms; November is starter as it is now.
    assert lines(retail(october)) == [
        ("voice.overage.outbound", "1.000", "0.25", "0.25"),
        ("plan.fee", "1", "59.00", "59.00"),
    ]
    assert lines(retail(november))[0] == ("voice.overage.outbound", "1.000", "0.40", "0.40")


def test_two_changes_from_the_next_period_bring_the_latest_terms(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    change_starter(cli, monkeypatch, "next_period")
    again = new_starter("next_period")
    again["voice"]["outbound"]["overage_per_minute"] = "0.30"
    at(monkeypatch, "2026-10-25T12:00:00Z")
    cli.apply(catalog(agency(plans=[again], subs=[sub_account()])), "again.yaml")
    october, november = close_two_months(cli, monkeypatch)
    assert lines(retail(october))[0] == ("voice.overage.outbound", "1.000", "0.25", "0.25")
    # 60 s × 0.30 / 60 = 0.30
    assert lines(retail(november))[0] == ("voice.overage.outbound", "1.000", "0.30", "0.30")


def test_migration_0018_goes_back_with_the_clients_on_their_plans(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Down to 0017 the kept versions go and their clients return to the plan (its terms as
    they are now); the read cache's triggers on `plans` survive SQLite's table rebuild."""
    change_starter(cli, monkeypatch, "new_clients")
    engine = make_engine(cli.db)
    try:
        command.downgrade(alembic_config(engine), "0017")
        with engine.begin() as connection:
            plans = connection.execute(text("SELECT id FROM plans ORDER BY id")).scalars().all()
            subscribed = connection.execute(text("SELECT plan_id FROM subscriptions")).scalars()
            assert plans == ["starter"] and set(subscribed) == {"starter"}
            before = connection.execute(text("SELECT version FROM cache_version")).scalar_one()
            connection.execute(text("UPDATE plans SET name = 'Starter 2'"))
            after = connection.execute(text("SELECT version FROM cache_version")).scalar_one()
            assert after > before
        command.upgrade(alembic_config(engine), "head")
    finally:
        engine.dispose()
    assert plan_of(cli) == "starter"


def test_this_periods_alerts_count_this_periods_included_minutes(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Included minutes cut from 200 to 100 "from the next period": 150 minutes in October are
    75 % of October's 200 (the 50 % alert), not 150 % of November's 100."""
    with_alerts = {**sub_account(), "caps": {"alerts": ["0.5", "0.8", "1.0"]}}
    at(monkeypatch, "2026-10-01T12:00:00Z")
    cli.apply(catalog(agency(plans=[STARTER], subs=[with_alerts])))
    fewer = {**copy.deepcopy(STARTER), "included_minutes": 100, "takes_effect": "next_period"}
    at(monkeypatch, CHANGED_AT)
    cli.apply(catalog(agency(plans=[fewer], subs=[with_alerts])), "fewer.yaml")
    at(monkeypatch, CLOSING_AT)
    cli.import_calls([("c1", "bright-dental", "2026-10-20T09:00:00-04:00", 9000, "outbound")])
    fired = cli.json("alerts", "list", "--agency", "acme")
    thresholds = sorted(str(a["threshold"]) for a in fired["data"])
    assert thresholds == ["1/2"], fired
