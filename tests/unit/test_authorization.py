"""Call authorization decisions (BILLING_MODEL §5, §7, §8): `decide` as a table.

Conventions for the hand computations below (unless a case says otherwise):

- plan `payg`: prepaid, 0 included minutes, outbound 0.25/min and inbound 0.20/min, both at
  `60/6` (first 60 s, then steps of 6 s), no connect fee;
- a cost is `billable × rate / 60`, rounded half up to micro-units (10⁻⁶), plus the connect fee
  when the call has overage seconds;
- `max_duration_seconds` is the longest billable time inside pool + wallet + cap headroom,
  snapped DOWN to the increment grid 60, 66, 72, …; 0 on the grid means refused.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from rebill.domain.caps import (
    REASONS,
    AuthorizationInput,
    Caps,
    Decision,
    crossed_thresholds,
    decide,
    longest_affordable_overage,
    snap_down,
)
from rebill.domain.plan import UNLIMITED, Plan
from rebill.domain.rating import Increment, VoiceRate
from rebill.domain.usage import PeriodUsage, Wallet

M = 1_000_000  # micros per currency unit
G60_6 = Increment(60, 6)


def make_plan(
    overage: str = "prepaid",
    included_minutes: int = 0,
    outbound_micros: int = 250_000,  # 0.25/min
    inbound_micros: int = 200_000,  # 0.20/min
    increment: Increment = G60_6,
    inbound_increment: Increment | None = None,
    connect_fee_micros: int = 0,
) -> Plan:
    return Plan(
        id="payg",
        name="Pay as you go",
        monthly_fee_micros=10 * M,
        included_minutes=included_minutes,
        overage=overage,
        voice={
            "outbound": VoiceRate(outbound_micros, increment, connect_fee_micros),
            "inbound": VoiceRate(
                inbound_micros, inbound_increment or increment, connect_fee_micros
            ),
        },
        included_numbers=0,
        number_monthly_micros={"local": 3 * M},
    )


def make_input(**overrides: object) -> AuthorizationInput:
    base = AuthorizationInput(
        state="active",
        plan=make_plan(),
        direction="outbound",
        included_used_seconds=0,
        billable_seconds=0,
        spent_micros=0,
        wallet_micros=0,
        caps=Caps(),
        parallel_calls_limit=UNLIMITED,
        active_calls=0,
        agency_over_credit_limit=False,
    )
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


BLOCK_SPEND_10 = Caps(monthly_spend_micros=10 * M, enforcement="block")
BLOCK_MINUTES_100 = Caps(monthly_minutes=100, enforcement="block")  # 6,000 billable seconds


@dataclass(frozen=True)
class Case:
    name: str
    given: AuthorizationInput
    allowed: bool
    max_duration_seconds: int | None
    reason: str | None = None


# ---------------------------------------------------------------------------------------------
# one case (at least) per refusal reason, and the order in which they are checked
# ---------------------------------------------------------------------------------------------

REFUSALS = [
    Case(
        "suspended sub-account, even with a full wallet",
        make_input(state="suspended", wallet_micros=100 * M),
        False,
        0,
        "sub_account_suspended",
    ),
    Case(
        "closed sub-account is refused like a suspended one",
        make_input(state="closed", wallet_micros=100 * M),
        False,
        0,
        "sub_account_suspended",
    ),
    Case(
        "suspension wins over every other reason",
        make_input(
            state="suspended",
            agency_over_credit_limit=True,
            parallel_calls_limit=1,
            active_calls=1,
        ),
        False,
        0,
        "sub_account_suspended",
    ),
    Case(
        "agency over its credit limit",
        make_input(plan=make_plan(overage="postpaid"), agency_over_credit_limit=True),
        False,
        0,
        "agency_credit_limit",
    ),
    Case(
        "agency limit wins over the parallel-calls limit",
        make_input(agency_over_credit_limit=True, parallel_calls_limit=1, active_calls=1),
        False,
        0,
        "agency_credit_limit",
    ),
    Case(
        "parallel calls: limit 2, 2 active",
        make_input(plan=make_plan(overage="postpaid"), parallel_calls_limit=2, active_calls=2),
        False,
        0,
        "parallel_calls_limit",
    ),
    Case(
        "parallel calls: limit 0 means disabled",
        make_input(plan=make_plan(overage="postpaid"), parallel_calls_limit=0, active_calls=0),
        False,
        0,
        "parallel_calls_limit",
    ),
    Case(
        "minutes cap (block) reached: 100 min = 6,000 s used",
        make_input(
            plan=make_plan(overage="postpaid"), caps=BLOCK_MINUTES_100, billable_seconds=6_000
        ),
        False,
        0,
        "minutes_cap_reached",
    ),
    Case(
        # headroom 6,000 − 5,970 = 30 s < the first interval of 60 s: no call fits
        "minutes cap (block): headroom below the first interval",
        make_input(
            plan=make_plan(overage="postpaid"), caps=BLOCK_MINUTES_100, billable_seconds=5_970
        ),
        False,
        0,
        "minutes_cap_reached",
    ),
    Case(
        "spend cap (block) reached: 10.00 spent of 10.00",
        make_input(plan=make_plan(overage="postpaid"), caps=BLOCK_SPEND_10, spent_micros=10 * M),
        False,
        0,
        "spend_cap_reached",
    ),
    Case(
        # headroom 10.00 − 9.76 = 0.24 < 60 s × 0.25 / 60 = 0.25: not even the first interval
        "spend cap (block): headroom below the first interval's cost",
        make_input(plan=make_plan(overage="postpaid"), caps=BLOCK_SPEND_10, spent_micros=9_760_000),
        False,
        0,
        "spend_cap_reached",
    ),
    Case(
        "prepaid, empty pool, empty wallet",
        make_input(wallet_micros=0),
        False,
        0,
        "insufficient_credits",
    ),
    Case(
        # 59 s × 0.25 / 60 = 0.245833… → 0.245833 affordable, 60 s = 0.250000 is not
        "prepaid: wallet worth 59 s, less than the first interval",
        make_input(wallet_micros=249_999),
        False,
        0,
        "insufficient_credits",
    ),
    Case(
        # pool 2 min = 120 s, 100 used → 20 s left; wallet 0 → 20 s < 60 s: refused
        "prepaid: a pool remainder below the first interval and no credits",
        make_input(plan=make_plan(included_minutes=2), included_used_seconds=100),
        False,
        0,
        "insufficient_credits",
    ),
    Case(
        # wallet worth 0.10 / 0.25 × 60 = 24 s; spend headroom 0.05 → 12 s: both < 60 s;
        # spend comes before credits in the reason order (and is the tighter bound too)
        "prepaid: spend cap (12 s) and wallet (24 s) both refuse → spend_cap_reached",
        make_input(wallet_micros=100_000, caps=BLOCK_SPEND_10, spent_micros=9_950_000),
        False,
        0,
        "spend_cap_reached",
    ),
]

# ---------------------------------------------------------------------------------------------
# allowed, unbounded (None)
# ---------------------------------------------------------------------------------------------

UNBOUNDED = [
    Case("postpaid, no caps", make_input(plan=make_plan(overage="postpaid")), True, None),
    Case(
        "postpaid, parallel limit 2 with 1 active",
        make_input(plan=make_plan(overage="postpaid"), parallel_calls_limit=2, active_calls=1),
        True,
        None,
    ),
    Case(
        "postpaid, unlimited parallel calls (-1) with 500 active",
        make_input(
            plan=make_plan(overage="postpaid"), parallel_calls_limit=UNLIMITED, active_calls=500
        ),
        True,
        None,
    ),
    Case(
        # notify caps never limit: both caps long passed
        "postpaid, notify caps far exceeded",
        make_input(
            plan=make_plan(overage="postpaid"),
            caps=Caps(monthly_spend_micros=10 * M, monthly_minutes=100, enforcement="notify"),
            spent_micros=50 * M,
            billable_seconds=60_000,
        ),
        True,
        None,
    ),
    Case(
        # overage is free: no budget can run out
        "prepaid, free overage (rate 0), empty wallet",
        make_input(plan=make_plan(outbound_micros=0), wallet_micros=0),
        True,
        None,
    ),
]

# ---------------------------------------------------------------------------------------------
# max_duration_seconds on the increment grid
# ---------------------------------------------------------------------------------------------

BOUNDED = [
    Case(
        # 61 s × 0.25 / 60 = 0.2541666… → 0.254167 = wallet, so 61 s are affordable (62 s =
        # 0.258333 are not); the grid 60, 66, … gives 60, not 61
        "wallet worth exactly 61 s at 60/6 → 60",
        make_input(wallet_micros=254_167),
        True,
        60,
    ),
    Case(
        # 60 s × 0.25 / 60 = 0.250000 ≤ 0.254166 < 0.254167 (61 s) → 60 s affordable → 60
        "wallet one micro short of 61 s → 60",
        make_input(wallet_micros=254_166),
        True,
        60,
    ),
    Case(
        # exactly the first interval: 60 × 0.25 / 60 = 0.250000 → 60
        "wallet worth exactly 60 s → 60",
        make_input(wallet_micros=250_000),
        True,
        60,
    ),
    Case(
        # 66 s × 0.25 / 60 = 0.275000 exactly → 66 is on the grid (60 + 1 × 6) → 66
        "wallet worth exactly 66 s → 66",
        make_input(wallet_micros=275_000),
        True,
        66,
    ),
    Case(
        # 65.9 s × 0.25 / 60 = 0.2745833… → wallet 0.274583; 65 s = 0.270833 fits, 66 s =
        # 0.275000 does not → 65 → grid 60
        "wallet worth 65.9 s → 60",
        make_input(wallet_micros=274_583),
        True,
        60,
    ),
    Case(
        # 1.00 / 0.25 × 60 = 240 s exactly; 240 = 60 + 30 × 6 → 240
        "wallet 1.00 → 240",
        make_input(wallet_micros=M),
        True,
        240,
    ),
    Case(
        # per-second billing: 61 s = 0.254167 fits exactly → 61 (the grid is every second)
        "wallet worth exactly 61 s at 1/1 → 61",
        make_input(plan=make_plan(increment=Increment(1, 1)), wallet_micros=254_167),
        True,
        61,
    ),
    Case(
        # inbound uses the inbound rate and increment: 0.20/min at 30/6; wallet 0.21 → 0.21 /
        # 0.20 × 60 = 63 s → grid 30, 36, …, 60, 66 → 60
        "inbound rate and increment: wallet 0.21 at 0.20/min 30/6 → 60",
        make_input(
            plan=make_plan(inbound_increment=Increment(30, 6)),
            direction="inbound",
            wallet_micros=210_000,
        ),
        True,
        60,
    ),
    Case(
        # pool 2 min = 120 s, 30 used → 90 s; wallet 0 → 90 = 60 + 5 × 6 on the grid → 90
        "pool remaining 90 s, wallet 0 → 90",
        make_input(plan=make_plan(included_minutes=2), included_used_seconds=30),
        True,
        90,
    ),
    Case(
        # pool 120 − 27 = 93 s, wallet 0 → 93 → grid 60 + 5 × 6 = 90
        "pool remaining 93 s, wallet 0 → 90",
        make_input(plan=make_plan(included_minutes=2), included_used_seconds=27),
        True,
        90,
    ),
    Case(
        # pool 90 s + wallet 0.25 (60 s of overage) = 150 = 60 + 15 × 6 → 150
        "pool 90 s + wallet worth 60 s → 150",
        make_input(
            plan=make_plan(included_minutes=2), included_used_seconds=30, wallet_micros=250_000
        ),
        True,
        150,
    ),
    Case(
        # pool 90 s + wallet worth 61 s (0.254167) = 151 → grid 150
        "pool 90 s + wallet worth 61 s → 150",
        make_input(
            plan=make_plan(included_minutes=2), included_used_seconds=30, wallet_micros=254_167
        ),
        True,
        150,
    ),
    Case(
        # connect fee 0.50 > wallet 0.40: any overage second costs ≥ 0.50 + 0.004167, so only
        # the pool (90 s) is usable → 90
        "connect fee larger than the wallet → only the pool",
        make_input(
            plan=make_plan(included_minutes=2, connect_fee_micros=500_000),
            included_used_seconds=30,
            wallet_micros=400_000,
        ),
        True,
        90,
    ),
    Case(
        # connect fee 0.10, wallet 0.35 → 0.25 left for minutes = 60 s → 60
        "connect fee paid first, then 60 s",
        make_input(plan=make_plan(connect_fee_micros=100_000), wallet_micros=350_000),
        True,
        60,
    ),
    Case(
        # spend headroom 10.00 − 9.75 = 0.25 → 60 s (postpaid plan, no pool) → 60
        "spend cap (block) headroom worth 60 s → 60",
        make_input(plan=make_plan(overage="postpaid"), caps=BLOCK_SPEND_10, spent_micros=9_750_000),
        True,
        60,
    ),
    Case(
        # spend headroom 0.30 → 0.30 / 0.25 × 60 = 72 s = 60 + 2 × 6 → 72
        "spend cap (block) headroom worth 72 s → 72",
        make_input(plan=make_plan(overage="postpaid"), caps=BLOCK_SPEND_10, spent_micros=9_700_000),
        True,
        72,
    ),
    Case(
        # pool 120 s (free, not spend) + spend headroom 0.30 = 72 s → 192 = 60 + 22 × 6 → 192
        "spend cap headroom on top of the pool → 192",
        make_input(
            plan=make_plan(overage="postpaid", included_minutes=2),
            caps=BLOCK_SPEND_10,
            spent_micros=9_700_000,
        ),
        True,
        192,
    ),
    Case(
        # prepaid: wallet 1.00 (240 s) but spend headroom 0.25 (60 s): the tighter wins → 60
        "prepaid: spend cap tighter than the wallet → 60",
        make_input(wallet_micros=M, caps=BLOCK_SPEND_10, spent_micros=9_750_000),
        True,
        60,
    ),
    Case(
        # prepaid: spend headroom 5.00 (1,200 s) but wallet 0.30 (72 s) → 72
        "prepaid: wallet tighter than the spend cap → 72",
        make_input(wallet_micros=300_000, caps=BLOCK_SPEND_10, spent_micros=5 * M),
        True,
        72,
    ),
    Case(
        # minutes headroom 6,000 − 5,900 = 100 s → grid 60 + 6 × 6 = 96
        "minutes cap (block) headroom 100 s → 96",
        make_input(
            plan=make_plan(overage="postpaid"), caps=BLOCK_MINUTES_100, billable_seconds=5_900
        ),
        True,
        96,
    ),
    Case(
        # minutes headroom 100 s even though the pool has 120 s → 96: the cap counts all
        # billable minutes, included ones too
        "minutes cap (block) binds inside the pool → 96",
        make_input(
            plan=make_plan(included_minutes=2),
            caps=BLOCK_MINUTES_100,
            billable_seconds=5_900,
        ),
        True,
        96,
    ),
    Case(
        # prepaid: wallet 1.00 (240 s) but minutes headroom 100 s → 96
        "prepaid: minutes cap tighter than the wallet → 96",
        make_input(wallet_micros=M, caps=BLOCK_MINUTES_100, billable_seconds=5_900),
        True,
        96,
    ),
    Case(
        # notify caps, both reached: only the wallet limits, 61 s worth → 60
        "prepaid: notify caps never limit → wallet decides (60)",
        make_input(
            wallet_micros=254_167,
            caps=Caps(monthly_spend_micros=M, monthly_minutes=1, enforcement="notify"),
            spent_micros=5 * M,
            billable_seconds=6_000,
        ),
        True,
        60,
    ),
    Case(
        # a parallel limit not reached does not change the duration: 1.00 → 240
        "parallel limit 3 with 2 active → duration from the wallet (240)",
        make_input(wallet_micros=M, parallel_calls_limit=3, active_calls=2),
        True,
        240,
    ),
]


# docs/billing-model.md rule 18: "When several reasons apply the first of: ...,
# minutes_cap_reached, spend_cap_reached, insufficient_credits". In these cases two reasons
# apply on their own (each bound alone is below the first 60 s interval, so each alone refuses);
# the order names the first, whichever bound happens to be smaller.
REASON_ORDER = [
    Case(
        # minutes headroom 6,000 − 5,970 = 30 s (alone: minutes_cap_reached, see REFUSALS);
        # wallet 0 (alone: insufficient_credits) → rule 18: minutes_cap_reached
        "minutes cap and wallet both refuse → minutes_cap_reached",
        make_input(caps=BLOCK_MINUTES_100, billable_seconds=5_970, wallet_micros=0),
        False,
        0,
        "minutes_cap_reached",
    ),
    Case(
        # spend headroom 0.24 (< 0.25 for 60 s; alone: spend_cap_reached); wallet 0.10
        # (alone: insufficient_credits) → rule 18: spend_cap_reached
        "spend cap and wallet both refuse → spend_cap_reached",
        make_input(caps=BLOCK_SPEND_10, spent_micros=9_760_000, wallet_micros=100_000),
        False,
        0,
        "spend_cap_reached",
    ),
    Case(
        # minutes headroom 30 s and spend headroom 0.10 (24 s): both refuse alone →
        # rule 18: minutes_cap_reached
        "minutes cap and spend cap both refuse → minutes_cap_reached",
        make_input(
            plan=make_plan(overage="postpaid"),
            caps=Caps(monthly_spend_micros=10 * M, monthly_minutes=100, enforcement="block"),
            billable_seconds=5_970,
            spent_micros=9_900_000,
        ),
        False,
        0,
        "minutes_cap_reached",
    ),
]

REASON_ORDER_BUG = (
    "decide() names the refusal after the smallest bound (min over (billable, reason)), not by "
    "the documented reason order (docs/billing-model.md rule 18: minutes_cap_reached, then "
    "spend_cap_reached, then insufficient_credits)"
)


@pytest.mark.parametrize("case", REASON_ORDER, ids=lambda c: c.name)
def test_reason_order_when_several_bounds_refuse(case: Case) -> None:
    decision = decide(case.given)
    assert (decision.allowed, decision.max_duration_seconds, decision.reason) == (
        case.allowed,
        case.max_duration_seconds,
        case.reason,
    )


@pytest.mark.parametrize("case", REFUSALS + UNBOUNDED + BOUNDED, ids=lambda c: c.name)
def test_decision_table(case: Case) -> None:
    decision = decide(case.given)
    assert (decision.allowed, decision.max_duration_seconds, decision.reason) == (
        case.allowed,
        case.max_duration_seconds,
        case.reason,
    )


# Refused after the decision, by what the decision does not see: an invoice unpaid past its
# grace period (dunning; tests/e2e/test_dunning.py holds them).
HOLD_REASONS = {"unpaid_invoice", "agency_unpaid"}


def test_every_reason_code_has_a_case() -> None:
    assert {c.reason for c in REFUSALS} == set(REASONS) - HOLD_REASONS


# ---------------------------------------------------------------------------------------------
# the helpers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("budget", "connect_fee", "expected"),
    [
        (0, 0, 0),
        (254_167, 0, 61),  # 61 × 0.25 / 60 = 0.2541666… → 0.254167
        (254_166, 0, 60),  # one micro short of 61 s
        (275_000, 0, 66),  # 66 × 0.25 / 60 = 0.275 exactly
        (4_167, 0, 1),  # 1 s × 0.25 / 60 = 0.0041666… → 0.004167
        (4_166, 0, 0),  # one micro short of 1 s
        (99_999, 100_000, 0),  # less than the connect fee
        (100_000, 100_000, 0),  # exactly the connect fee: 0 s of minutes
        (350_000, 100_000, 60),  # 0.25 left after the fee
    ],
)
def test_longest_affordable_overage(budget: int, connect_fee: int, expected: int) -> None:
    rate = VoiceRate(250_000, G60_6, connect_fee)
    assert longest_affordable_overage(rate, budget) == expected


def test_longest_affordable_overage_is_none_when_overage_is_free() -> None:
    assert longest_affordable_overage(VoiceRate(0, G60_6), 0) is None


@pytest.mark.parametrize(
    ("increment", "billable", "expected"),
    [
        (G60_6, 0, 0),
        (G60_6, 59, 0),
        (G60_6, 60, 60),
        (G60_6, 61, 60),
        (G60_6, 65, 60),
        (G60_6, 66, 66),
        (G60_6, 90, 90),
        (G60_6, 93, 90),
        (Increment(30, 6), 63, 60),
        (Increment(60, 60), 119, 60),
        (Increment(60, 60), 120, 120),
        (Increment(1, 1), 61, 61),
    ],
)
def test_snap_down(increment: Increment, billable: int, expected: int) -> None:
    assert snap_down(increment, billable) == expected
    if expected:  # on the grid, and the next grid point is past `billable`
        assert increment.billable_seconds(expected) == expected
        assert increment.billable_seconds(expected + 1) > billable


@pytest.mark.parametrize(
    ("used", "limit", "expected"),
    [
        (0, 600, []),
        (299, 600, []),
        (300, 600, [Fraction(1, 2)]),
        (480, 600, [Fraction(1, 2), Fraction(4, 5)]),
        (600, 600, [Fraction(1, 2), Fraction(4, 5), Fraction(1)]),
        (10_000, 600, [Fraction(1, 2), Fraction(4, 5), Fraction(1)]),
        (10, 0, []),  # no limit: nothing to measure against
    ],
)
def test_crossed_thresholds(used: int, limit: int, expected: list[Fraction]) -> None:
    thresholds = (Fraction(1, 2), Fraction(4, 5), Fraction(1))
    assert crossed_thresholds(used, limit, thresholds) == expected


# ---------------------------------------------------------------------------------------------
# property: D is the longest call that stays inside pool + wallet + caps, on the grid
# ---------------------------------------------------------------------------------------------


@st.composite
def authorization_inputs(draw: st.DrawFn) -> AuthorizationInput:
    first = draw(st.sampled_from([1, 6, 30, 60, 60, 60, 120]))
    step = draw(st.sampled_from([1, 6, 6, 10, 30, 60]))
    overage = draw(st.sampled_from(["prepaid", "prepaid", "postpaid"]))
    plan = make_plan(
        overage=overage,
        included_minutes=draw(st.integers(0, 20)),
        outbound_micros=draw(st.one_of(st.just(0), st.integers(1, 3 * M))),
        inbound_micros=draw(st.integers(1, 3 * M)),
        increment=Increment(first, step),
        connect_fee_micros=draw(st.one_of(st.just(0), st.integers(0, 500_000))),
    )
    included_used = draw(st.integers(0, plan.included_seconds + 300))
    billable = included_used + draw(st.integers(0, 20_000))
    blocking = draw(st.booleans())
    caps = Caps(
        monthly_spend_micros=draw(st.none() | st.integers(0, 20 * M)),
        monthly_minutes=draw(st.none() | st.integers(0, 600)),
        enforcement="block" if blocking else "notify",
    )
    return make_input(
        plan=plan,
        direction=draw(st.sampled_from(["outbound", "inbound"])),
        included_used_seconds=included_used,
        billable_seconds=billable,
        spent_micros=draw(st.integers(0, 20 * M)),
        wallet_micros=draw(st.integers(0, 5 * M)),
        caps=caps,
    )


def exceeded(given: AuthorizationInput, duration_seconds: int) -> list[str]:
    """Fund a call of `duration_seconds` against the input's counters and wallet; the bounds it
    would break."""
    usage = PeriodUsage(
        billable_seconds=given.billable_seconds,
        included_used_seconds=given.included_used_seconds,
        credit_micros=given.spent_micros,
    )
    wallet = Wallet(given.wallet_micros)
    funding = usage.fund(given.plan, given.direction, duration_seconds, wallet)
    assert wallet.balance_micros >= 0
    broken = []
    if given.plan.overage == "prepaid" and funding.postpaid_micros > 0:
        broken.append("insufficient_credits")
    caps = given.caps
    spend_cap, minutes_cap = caps.monthly_spend_micros, caps.monthly_minutes
    if caps.blocking and spend_cap is not None and usage.overage_micros > spend_cap:
        broken.append("spend_cap_reached")
    if caps.blocking and minutes_cap is not None and usage.billable_seconds > minutes_cap * 60:
        broken.append("minutes_cap_reached")
    return broken


@settings(max_examples=600, deadline=None)
@given(authorization_inputs())
@example(make_input(wallet_micros=254_167))
@example(make_input(plan=make_plan(included_minutes=2), included_used_seconds=30))
@example(
    make_input(
        plan=make_plan(included_minutes=2, connect_fee_micros=500_000),
        included_used_seconds=30,
        wallet_micros=400_000,
    )
)
def test_max_duration_is_the_longest_fundable_call(given: AuthorizationInput) -> None:
    decision: Decision = decide(given)
    rate = given.plan.voice[given.direction]
    if decision.allowed and decision.max_duration_seconds is not None:
        longest = decision.max_duration_seconds
        assert longest > 0
        assert rate.increment.billable_seconds(longest) == longest  # on the grid
        assert exceeded(given, longest) == []  # fits: no postpaid on prepaid, within caps
        assert exceeded(given, longest + 1) != []  # one second more breaks a bound
    elif decision.allowed:
        # unbounded: even a week-long call breaks nothing
        assert exceeded(given, 7 * 24 * 3600) == []
    else:
        assert decision.max_duration_seconds == 0
        assert decision.reason in (
            "insufficient_credits",
            "spend_cap_reached",
            "minutes_cap_reached",
        )
        caps = given.caps
        reached = (
            decision.reason == "spend_cap_reached"
            and caps.monthly_spend_micros is not None
            and given.spent_micros >= caps.monthly_spend_micros
        )
        # a cap already reached refuses outright; otherwise the shortest call breaks a bound
        assert reached or exceeded(given, 1) != []


@settings(max_examples=300, deadline=None)
@given(authorization_inputs(), st.integers(0, 5 * M))
def test_more_credits_never_shorten_the_call(given: AuthorizationInput, extra: int) -> None:
    assume(given.plan.overage == "prepaid")
    before = decide(given)
    after = decide(dataclasses.replace(given, wallet_micros=given.wallet_micros + extra))
    if before.allowed:
        assert after.allowed
        if before.max_duration_seconds is None:
            assert after.max_duration_seconds is None
        elif after.max_duration_seconds is not None:
            assert after.max_duration_seconds >= before.max_duration_seconds
