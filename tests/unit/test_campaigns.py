"""The campaign limit (docs/campaigns.md) as a table, then `authorize_call` and the usage by
campaign over the in-memory repositories (`tests/fakes.py`), with the October of
`test_billing_on_fakes` (s1: c1 and c2 in campaign `fall`, c3 none; s2: c4 none)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from rebill.domain.campaign import CAMPAIGN_LIMIT_REASON, campaign_decision, opens_beyond_limit
from rebill.domain.caps import Decision
from rebill.domain.period import Period
from rebill.domain.plan import UNLIMITED, Limits
from rebill.services.usage.authorize import authorize_call
from rebill.services.views.reports import usage_by_campaign
from tests.fakes import fake_uow_factory
from tests.unit.test_billing_on_fakes import record, world


@pytest.mark.parametrize(
    ("limit", "open_count", "already_open", "refused"),
    [
        (None, 10, False, False),  # no limit set
        (UNLIMITED, 10, False, False),
        (0, 0, False, True),  # disabled: no campaign at all
        (1, 0, False, False),  # the first opens
        (2, 1, False, False),  # the n-th opens
        (2, 2, False, True),  # the n+1-th does not
        (2, 2, True, False),  # an open one always passes
        (2, 5, True, False),  # even above a limit lowered since
        (2, 5, False, True),
    ],
)
def test_campaign_limit_table(
    limit: int | None, open_count: int, already_open: bool, refused: bool
) -> None:
    assert opens_beyond_limit(limit, open_count, already_open) is refused
    allowed = Decision(True, 120)
    decision = campaign_decision(allowed, limit, open_count, already_open)
    if refused:
        assert (decision.allowed, decision.max_duration_seconds, decision.reason) == (
            False,
            0,
            CAMPAIGN_LIMIT_REASON,
        )
    else:
        assert decision == allowed


def test_another_refusal_is_named_first() -> None:
    refused = Decision(False, 0, "spend_cap_reached")
    assert campaign_decision(refused, 0, 3, False) == refused


@pytest.mark.parametrize(
    ("limit", "campaign", "allowed"),
    [
        (1, "fall", True),  # open already
        (1, "winter", False),  # a second campaign beyond 1
        (2, "winter", True),
        (0, "fall", True),  # open: passes even with campaigns disabled since
        (0, None, True),  # a call without campaign
        (UNLIMITED, "winter", True),
    ],
)
def test_authorize_call_on_fakes(limit: int, campaign: str | None, allowed: bool) -> None:
    state = world()
    record(state)
    acme = state.agencies["acme"]
    acme.subs["s1"] = replace(acme.subs["s1"], limits=Limits(campaigns=limit))
    now = datetime(2026, 10, 20, 12, tzinfo=UTC)
    result = authorize_call(fake_uow_factory(state), "acme", "s1", "outbound", None, now, campaign)
    assert result.decision.allowed is allowed
    assert result.decision.reason == (None if allowed else "campaign_limit")
    # Campaigns open in another period do not count: November starts from none.
    november = datetime(2026, 11, 20, 12, tzinfo=UTC)
    later = authorize_call(fake_uow_factory(state), "acme", "s1", "outbound", None, november, "x")
    assert later.decision.allowed is (limit != 0)


def test_usage_by_campaign_on_fakes() -> None:
    state = world()
    record(state)
    report = usage_by_campaign(fake_uow_factory(state), "acme", Period(2026, 10))
    rows = [
        (r["sub_account"], r["campaign"], r["calls"], r["billable_seconds"], r["retail_amount"])
        for r in report["rows"]
    ]
    # c1 480 s in the pool, c2 300 s (0.30 over), c3 240 s (0.40 over), c4 90 s (0.15 over).
    assert rows == [
        ("s1", None, 1, 240, "0.400000"),
        ("s1", "fall", 2, 780, "0.300000"),
        ("s2", None, 1, 90, "0.150000"),
    ]
    totals = {t["sub_account"]: t for t in report["sub_accounts"]}
    assert (totals["s1"]["calls"], totals["s1"]["billable_seconds"]) == (3, 1020)
    assert totals["s1"]["retail_amount"] == "0.700000"
    # Wholesale 0.02/min at 60/6: 240 s = 0.08, 780 s = 0.26.
    assert [r["wholesale_cost"] for r in report["rows"]] == ["0.080000", "0.260000", "0.030000"]


def test_a_dunning_hold_refuses_after_the_decision_on_fakes() -> None:
    """A suspension for an unpaid invoice (dunning) refuses even a call the caps allow, and
    names the hold rather than the campaign."""
    state = world()
    record(state)
    now = datetime(2026, 10, 20, 12, tzinfo=UTC)
    allowed = authorize_call(fake_uow_factory(state), "acme", "s1", "outbound", None, now, "fall")
    assert allowed.decision.allowed
    state.agencies["acme"].dunning_holds["s1"] = "unpaid_invoice"
    held = authorize_call(fake_uow_factory(state), "acme", "s1", "outbound", None, now, "fall")
    assert (held.decision.allowed, held.decision.reason) == (False, "unpaid_invoice")
    other = authorize_call(fake_uow_factory(state), "acme", "s2", "outbound", None, now, None)
    assert other.decision.allowed
