"""`record_calls` and the close against the in-memory repositories (`tests/fakes.py`): no
database, the numbers worked out by hand from the billing model.

The agency (USD, UTC, no tax) sells `starter` (20.00 a month, 10 included minutes) and `payg`
(5.00, none); both rate outbound minutes at 0.10 (60/6). The platform charges 0.02 a minute
(60/6) and 100.00 a month. `s1` holds 0.50 of credits, `s2` none; both subscribed in
September, so October renews their plans.

October's calls, funded in order of start:
- s1 480 s: 480 billable, all from the 600 s pool.
- s1 300 s: 120 s from the pool, 180 s over = 0.30, all from the wallet (0.20 left).
- s1 240 s: 240 s over = 0.40; the wallet pays 0.20, postpaid 0.20 (120 of the seconds).
- s2 90 s: 90 s over = 0.15, postpaid.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

from rebill.domain.account import Agency, Platform, SubAccount
from rebill.domain.caps import Caps
from rebill.domain.charges import PlanChange
from rebill.domain.ledger import Accounts
from rebill.domain.period import Period
from rebill.domain.plan import Plan, WholesaleCard
from rebill.domain.rating import Increment, VoiceRate
from rebill.domain.tax import TaxPolicy
from rebill.services.invoicing.close import close_period
from rebill.services.ports import CallRecord, Subscription, UsageKey
from rebill.services.usage.record import RatingContext, record_calls
from tests.fakes import AgencyData, FakeUnitOfWork, World, fake_uow_factory

SEPTEMBER = datetime(2026, 9, 1, tzinfo=UTC)
RECORDED_AT = datetime(2026, 10, 20, tzinfo=UTC)
CLOSED_AT = datetime(2026, 11, 2, tzinfo=UTC)
OCTOBER = Period(2026, 10)
STEP = Increment(60, 6)


def rate(micros: int) -> dict[str, VoiceRate]:
    return {d: VoiceRate(micros, STEP) for d in ("outbound", "inbound")}


def plan(plan_id: str, fee_micros: int, included_minutes: int) -> Plan:
    numbers = {"local": 0, "toll_free": 0}
    return Plan(
        plan_id, plan_id, fee_micros, included_minutes, "postpaid", rate(100_000), 0, numbers
    )


def world() -> World:
    agency = Agency("acme", "Acme", "UTC", "ACME", "USD", TaxPolicy())
    data = AgencyData(agency, WholesaleCard(rate(20_000), {"local": 0}, 100_000_000))
    starter, payg = plan("starter", 20_000_000, 10), plan("payg", 5_000_000, 0)
    data.plans = {"starter": starter, "payg": payg}
    data.subs = {
        "s1": SubAccount(
            "acme",
            "s1",
            "One",
            "one@example.com",
            caps=Caps(alerts=(Fraction(1),)),
            top_up_threshold_micros=100_000,
            top_up_amount_micros=10_000_000,
        ),
        "s2": SubAccount("acme", "s2", "Two", "two@example.com"),
    }
    data.history["s1"].append(PlanChange(SEPTEMBER, starter, "subscribe"))
    data.history["s2"].append(PlanChange(SEPTEMBER, payg, "subscribe"))
    data.wallets = {"s1": 500_000}
    data.subscriptions = [Subscription("we_1", ())]
    return World(Platform("Platform", "USD", "PLAT"), agencies={"acme": data})


def october_calls() -> list[CallRecord]:
    def at(day: int, hour: int) -> datetime:
        return datetime(2026, 10, day, hour, tzinfo=UTC)

    return [
        CallRecord("c3", "s1", at(6, 9), 240, "outbound"),  # given out of order on purpose
        CallRecord("c1", "s1", at(5, 10), 480, "outbound", campaign_id="fall"),
        CallRecord("c2", "s1", at(5, 11), 300, "outbound", campaign_id="fall"),
        CallRecord("c4", "s2", at(7, 12), 90, "outbound"),
    ]


def record(state: World) -> None:
    with FakeUnitOfWork(state) as uow:
        tenant = uow.for_agency("acme")
        agency = tenant.agency.get()
        assert agency is not None
        record_calls(tenant, RatingContext.load(tenant, agency), october_calls(), RECORDED_AT)
        uow.commit()


def test_record_calls_funds_from_the_pool_then_the_wallet_then_postpaid() -> None:
    state = world()
    record(state)
    acme = state.agencies["acme"]
    funding = {c: s.rated.funding for c, s in acme.calls.items()}
    assert [
        (f.included_seconds, f.credit_micros, f.postpaid_micros)
        for f in (funding["c1"], funding["c2"], funding["c3"], funding["c4"])
    ] == [(480, 0, 0), (120, 300_000, 0), (0, 200_000, 200_000), (0, 0, 150_000)]
    assert funding["c3"].postpaid_seconds_e6 == 120_000_000
    s1 = acme.counters[UsageKey("s1", "2026-10")]
    assert (s1.billable_seconds, s1.included_used_seconds, s1.calls) == (1020, 600, 3)
    assert (s1.credit_micros, s1.postpaid_micros) == (500_000, 200_000)
    assert acme.counters[UsageKey("s2", "2026-10")].postpaid_micros == 150_000
    # The wallet is debited in the same transaction, and the ledger says so.
    assert acme.wallets == {"s1": 0}
    ledger = {p.account: p.amount_micros for e in acme.entries.values() for p in e.postings}
    assert ledger == {Accounts.wallet("s1"): 500_000, Accounts.REVENUE_USAGE: -500_000}
    # Wholesale accrues at 0.02 a minute: 480 + 300 + 240 + 90 billable seconds.
    assert acme.accrued_micros == {"2026-10": 370_000}
    assert {u.campaign_id for u in acme.campaigns} == {"fall"}
    # The drained wallet asks for its top-up once; its alerts fire once.
    (top_up,) = acme.top_ups
    assert (top_up.sub_account_id, top_up.amount_micros, top_up.status) == (
        "s1",
        10_000_000,
        "pending",
    )
    metrics = sorted(a.metric for a in acme.alerts.values())
    assert metrics == ["included_minutes", "wallet_low"]
    assert sorted(e.event_type for e in acme.queued) == ["alert.fired", "credits.low"]


def test_an_uncommitted_batch_leaves_nothing_behind() -> None:
    state = world()
    with FakeUnitOfWork(state) as uow:
        tenant = uow.for_agency("acme")
        agency = tenant.agency.get()
        assert agency is not None
        record_calls(tenant, RatingContext.load(tenant, agency), october_calls(), RECORDED_AT)
    acme = state.agencies["acme"]
    assert (acme.calls, acme.counters, acme.wallets) == ({}, {}, {"s1": 500_000})


def minor(amount: str) -> int:
    return int(Decimal(amount) * 100)


def test_the_close_invoices_usage_and_renewals_and_reports_the_profit() -> None:
    state = world()
    record(state)
    (document,) = close_period(fake_uow_factory(state), OCTOBER, None, CLOSED_AT)
    one, two = document["retail_invoices"]
    assert (one["number"], one["sub_account"], two["number"]) == (
        "ACME-000001",
        "s1",
        "ACME-000002",
    )
    assert [(ln["code"], minor(ln["amount"])) for ln in one["lines"]] == [
        ("voice.overage.outbound", 20),  # the 0.20 the wallet could not pay
        ("plan.fee", 2000),  # November's starter
    ]
    assert one["lines"][0]["quantity"] == "2.000"  # the 120 s the wallet could not pay
    assert minor(one["total"]) == 2020 and minor(two["total"]) == 15 + 500
    assert one["usage"]["billable_minutes"] == "17.000"  # 1,020 s
    assert one["usage"]["campaigns"] == 1
    wholesale = document["wholesale_invoice"]
    assert wholesale["number"] == "PLAT-000001"
    assert wholesale["lines"][0]["quantity"] == "18.500"
    assert [(ln["code"], minor(ln["amount"])) for ln in wholesale["lines"]] == [
        ("voice.outbound", 37),  # 1,110 s at 0.02
        ("platform.fee", 10000),
    ]
    # Revenue: October's renewal, its postpaid usage and the credits spent (net, untaxed).
    profit = document["profit"]
    by_sub = {
        r["sub_account"]: (minor(r["revenue"]), minor(r["cost"])) for r in profit["by_sub_account"]
    }
    assert by_sub == {"s1": (2000 + 20 + 50, 34), "s2": (500 + 15, 3)}
    assert (minor(profit["revenue"]), minor(profit["cost"])) == (2585, 10037)
    acme = state.agencies["acme"]
    assert acme.closes["2026-10"].wholesale_invoice_number == "PLAT-000001"
    balances = {p.account: 0 for e in acme.entries.values() for p in e.postings}
    for entry in acme.entries.values():
        for posting in entry.postings:
            balances[posting.account] += posting.amount_micros
    assert balances[Accounts.receivable("s1")] == 2020 * 10_000
    assert balances[Accounts.receivable("s2")] == 515 * 10_000
    assert balances[Accounts.WHOLESALE_PAYABLE] == -10037 * 10_000
    assert sum(balances.values()) == 0
    assert [e.event_type for e in acme.queued][-3:] == ["invoice.finalized"] * 3


def test_closing_again_reads_the_close_back_unchanged() -> None:
    state = world()
    record(state)
    uow = fake_uow_factory(state)
    first = close_period(uow, OCTOBER, None, CLOSED_AT)
    entries = dict(state.agencies["acme"].entries)
    assert close_period(uow, OCTOBER, None, CLOSED_AT) == first
    assert state.agencies["acme"].entries == entries
