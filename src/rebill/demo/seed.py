"""The demo's month, written through the services: the catalog applied, last month's calls
imported, credits bought, the month closed, then this month's calls so far; and, for
`rebill demo --serve`, a saved test card for every client and for the agency."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from rebill.demo.data import AGENCY, TIMEZONE, demo_calls, demo_catalog
from rebill.domain.period import Period
from rebill.services.catalog.apply import apply_catalog
from rebill.services.invoicing.close import close_period
from rebill.services.ports import UnitOfWorkFactory
from rebill.services.usage.import_file import import_usage
from rebill.services.views.sub_accounts import sub_account_ids
from rebill.services.wallets.credits import record_credit_purchase

if TYPE_CHECKING:
    from rebill.services.payments.gateway import GatewayContext

# The steps `seed_month` reports through its `step` callback, each with the next one's name.
SEED_STEPS = 5
FIRST_STEP = "applying the catalog"
CREDIT_BUYERS = ("summit-hvac", "harbor-realty")
DEMO_CREDITS = "25.00"


@dataclass(frozen=True)
class DemoMonth:
    """The month the demo closed: how many calls it imported and the close's documents."""

    period: Period
    calls_imported: int
    documents: list[dict[str, Any]]


def demo_period(now: datetime) -> Period:
    """The demo closes the month before `now`, in the agency's time zone."""
    return Period.containing(now, ZoneInfo(TIMEZONE)).previous()


def seed_month(
    uow_factory: UnitOfWorkFactory,
    gateway: GatewayContext,
    now: datetime,
    step: Callable[[str | None], None],
) -> DemoMonth:
    """Write the demo into an empty database. After each of the `SEED_STEPS` steps, `step` is
    called with the next step's name (None after the last)."""
    period = demo_period(now)
    apply_catalog(uow_factory, demo_catalog(period), "demo catalog", now)
    step("generating and importing calls")
    calls = list(demo_calls(period))
    report = import_usage(uow_factory, AGENCY, enumerate(calls, start=1), "demo calls", now)
    step("buying credits")
    bought_at = period.start(ZoneInfo(TIMEZONE))
    for sub_id in CREDIT_BUYERS:
        record_credit_purchase(
            uow_factory, AGENCY, sub_id, DEMO_CREDITS, bought_at, f"demo-{sub_id}"
        )
    step(f"closing {period}")
    documents = close_period(uow_factory, period, None, now, gateway)
    step("calls of the month so far")
    import_usage(
        uow_factory,
        AGENCY,
        enumerate(open_month_calls(period.next(), now)),
        "demo calls (this month)",
        now,
    )
    step(None)
    return DemoMonth(period, report.imported, documents)


def open_month_calls(period: Period, now: datetime) -> Iterator[dict[str, Any]]:
    """The open month's calls up to now, so that "this month" has figures and charts."""
    for call in demo_calls(period, seed=11):
        if datetime.fromisoformat(call["started_at"]) < now:
            yield {**call, "call_id": "open-" + call["call_id"]}


def save_demo_cards(uow_factory: UnitOfWorkFactory, gateway: GatewayContext, now: datetime) -> str:
    """Test cards on the demo's Stripe test server: one per client (the last one declines)
    and the agency's own (it pays the platform's wholesale invoice). Returns the declining
    client."""
    from rebill.services.payments.collect import save_card

    subs = sub_account_ids(uow_factory, AGENCY)
    for sub in subs:
        card = "pm_card_chargeCustomerFail" if sub == subs[-1] else "pm_card_visa"
        save_card(uow_factory, gateway, AGENCY, sub, card, now)
    save_card(uow_factory, gateway, AGENCY, None, "pm_card_visa", now)
    return subs[-1]
