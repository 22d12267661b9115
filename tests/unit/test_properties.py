"""Properties (hypothesis): rounding, balanced entries, wallets, invoice totals, additivity."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rebill.domain.invoice import InvoiceDraft
from rebill.domain.ledger import JournalEntry
from rebill.domain.money import Money, format_quantity, minutes_text, round_div, round_fraction
from rebill.domain.plan import Limits, Plan
from rebill.domain.rating import Increment, VoiceRate
from rebill.domain.tax import TaxPolicy
from rebill.domain.usage import SECONDS_SCALE, PeriodUsage, Wallet

NOW = datetime(2026, 10, 1, tzinfo=UTC)
ints = st.integers(min_value=-(10**15), max_value=10**15)
denominators = st.integers(min_value=1, max_value=10**6)


@given(ints, denominators)
def test_rounding_idempotent(n: int, d: int) -> None:
    once = round_div(n, d)
    assert round_div(once * d, d) == once
    assert abs(Fraction(n, d) - once) <= Fraction(1, 2)


@given(ints, ints, denominators)
def test_rounding_monotone(a: int, b: int, d: int) -> None:
    low, high = sorted((a, b))
    assert round_div(low, d) <= round_div(high, d)


@given(st.integers(min_value=0, max_value=10**9))
def test_rounding_half_up(k: int) -> None:
    assert round_div(2 * k + 1, 2) == k + 1
    assert round_div(-(2 * k + 1), 2) == -(k + 1)


@given(ints, denominators)
def test_minutes_text_is_the_rounded_quotient(n: int, d: int) -> None:
    """Computed on integers, it is the one rounding of seconds / 60 to three decimals."""
    assert minutes_text(Fraction(n, d)) == format_quantity(Fraction(n, d) / 60, 3)
    assert minutes_text(n) == format_quantity(Fraction(n) / 60, 3)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (Fraction(3, 100), "0.001"),
        (Fraction(-3, 100), "-0.001"),
        (Fraction(29, 1000), "0.000"),
        (90, "1.500"),
        (0, "0.000"),
        (Fraction(123_456_789, SECONDS_SCALE), "2.058"),
    ],
)
def test_minutes_text_halves_round_away_from_zero(seconds: Fraction | int, text: str) -> None:
    assert minutes_text(seconds) == text


def test_money_refuses_floats() -> None:
    with pytest.raises(TypeError):
        Money(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money.parse(0.1, "USD")
    with pytest.raises(ValueError, match="mix"):
        _ = Money(1, "USD") + Money(1, "EUR")


@given(st.lists(st.integers(min_value=-(10**12), max_value=10**12), min_size=1, max_size=20))
def test_entries_balance(amounts: list[int]) -> None:
    lines = [(f"a{i}", m) for i, m in enumerate(amounts)]
    balanced = [*lines, ("balance", -sum(amounts))]
    entry = JournalEntry.of("acme", "k", "t", NOW, "USD", balanced)
    assert sum(p.amount_micros for p in entry.postings) == 0
    if sum(amounts) != 0:
        with pytest.raises(ValueError, match="balance"):
            JournalEntry.of("acme", "k", "t", NOW, "USD", lines)


def _plan(included_minutes: int, rate: int, increment: str) -> Plan:
    voice = {d: VoiceRate(rate, Increment.parse(increment)) for d in ("outbound", "inbound")}
    return Plan("p", "P", 0, included_minutes, "postpaid", voice, 0, {}, Limits())


calls = st.lists(
    st.tuples(st.sampled_from(["outbound", "inbound"]), st.integers(min_value=0, max_value=20_000)),
    max_size=40,
)


@given(
    calls,
    st.integers(min_value=0, max_value=50_000_000),
    st.integers(min_value=0, max_value=300),
    st.integers(min_value=0, max_value=2_000_000),
    st.sampled_from(["1/1", "6/6", "60/6", "60/60", "30/6"]),
)
def test_wallet_never_negative_and_nothing_lost(
    batch: list[tuple[str, int]], balance: int, minutes: int, rate: int, increment: str
) -> None:
    plan = _plan(minutes, rate, increment)
    usage, wallet = PeriodUsage(), Wallet(balance)
    for direction, duration in batch:
        funding = usage.fund(plan, direction, duration, wallet)
        assert wallet.balance_micros >= 0
        voice = plan.voice[direction]
        assert funding.overage_micros == voice.cost_micros(funding.overage_seconds)
        assert 0 <= funding.postpaid_seconds_e6 <= funding.overage_seconds * SECONDS_SCALE
    assert usage.credit_micros == balance - wallet.balance_micros
    assert usage.included_used_seconds <= minutes * 60
    assert (
        usage.credit_seconds_e6
        + usage.postpaid_seconds_e6
        + usage.included_used_seconds * SECONDS_SCALE
        == usage.billable_seconds * SECONDS_SCALE
    )


@given(calls, st.integers(min_value=0, max_value=40), st.integers(min_value=0, max_value=10**8))
def test_rating_additive(batch: list[tuple[str, int]], split: int, balance: int) -> None:
    """Recording calls in two batches gives the same totals as in one (same order)."""
    plan = _plan(100, 250_000, "60/6")
    whole, whole_wallet = PeriodUsage(), Wallet(balance)
    parts, parts_wallet = PeriodUsage(), Wallet(balance)
    for direction, duration in batch:
        whole.fund(plan, direction, duration, whole_wallet)
    for direction, duration in batch[:split]:
        parts.fund(plan, direction, duration, parts_wallet)
    for direction, duration in batch[split:]:
        parts.fund(plan, direction, duration, parts_wallet)
    assert whole == parts
    assert whole_wallet == parts_wallet
    rate = VoiceRate(90_000, Increment.parse("1/1"), 5_000)
    costs = [rate.cost_micros(rate.increment.billable_seconds(d)) for _, d in batch]
    assert sum(costs[:split]) + sum(costs[split:]) == sum(costs)


@given(
    st.lists(st.integers(min_value=0, max_value=10**10), max_size=12),
    st.sampled_from(["0", "5", "8.875", "20", "100"]),
    st.sampled_from(["exclusive", "inclusive"]),
)
def test_invoice_total_is_sum_of_lines(amounts: list[int], rate: str, behavior: str) -> None:
    tax = TaxPolicy("manual", Decimal(rate), behavior, "VAT")
    draft = InvoiceDraft("retail", "ACME", "acme", "s", "2026-10", "USD", NOW, tax)
    for micros in amounts:
        draft.add_line("plan.fee", "x", "1", None, micros)
    assert all(line.amount_minor != 0 for line in draft.lines)
    assert draft.subtotal_minor == sum(line.amount_minor for line in draft.lines)
    assert draft.tax_minor == sum(line.tax_minor for line in draft.lines)
    expected = draft.subtotal_minor + (0 if behavior == "inclusive" else draft.tax_minor)
    assert draft.total_minor == expected
    for line in draft.lines:
        r = Fraction(Decimal(rate)) / 100
        exact = (
            line.amount_minor * r
            if behavior == "exclusive"
            else (line.amount_minor - line.amount_minor / (1 + r))
        )
        assert line.tax_minor == round_fraction(exact)
