"""The dunning timeline as a pure rule (domain/dunning.py): retries due, the next step, bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rebill.domain.dunning import DEFAULT_POLICY, DunningPolicy, next_step, policy_problems

FIRST = datetime(2026, 12, 15, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("hours", "due"),
    [(0, 0), (23, 0), (24, 1), (71, 1), (72, 2), (120, 3), (24 * 30, 3)],
)
def test_retries_due_follow_the_default_schedule(hours: int, due: int) -> None:
    assert DEFAULT_POLICY.retries_due(FIRST, FIRST + timedelta(hours=hours)) == due


@pytest.mark.parametrize(
    ("retries_done", "suspended", "action", "days"),
    [
        (0, False, "retry", 1),
        (1, False, "retry", 3),
        (2, False, "retry", 5),
        (3, False, "suspend", 7),
        (3, True, "suspended", None),
    ],
)
def test_the_next_step(retries_done: int, suspended: bool, action: str, days: int | None) -> None:
    step = next_step(DEFAULT_POLICY, FIRST, retries_done, suspended)
    assert step.action == action
    assert step.at == (FIRST + timedelta(days=days) if days is not None else None)


def test_a_retry_after_the_grace_period_is_not_announced_before_the_suspension() -> None:
    policy = DunningPolicy((2, 10), 5)
    assert next_step(policy, FIRST, 1, False).action == "suspend"


@pytest.mark.parametrize(
    ("retry_days", "grace_days", "problem"),
    [
        ([3, 1], 7, "increase strictly"),
        ([0], 7, "from 1 to 60"),
        ([1] * 11, 7, "at most 10"),
        ([1], 91, "from 0 to 90"),
    ],
)
def test_policies_out_of_bounds_are_refused(
    retry_days: list[int], grace_days: int, problem: str
) -> None:
    assert any(problem in p for p in policy_problems(retry_days, grace_days))
    with pytest.raises(ValueError, match=problem):
        DunningPolicy(tuple(retry_days), grace_days)


def test_a_policy_round_trips_through_its_stored_text() -> None:
    policy = DunningPolicy((2, 4), 9)
    assert DunningPolicy.parse(policy.text(), 9) == policy
    assert DunningPolicy.parse("", 1) == DunningPolicy((), 1)
