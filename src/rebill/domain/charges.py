"""Recurring fees billed in advance (BILLING_MODEL §6): plan fees, plan changes and number
rentals, as charges with their exact prorated amounts. The same functions price the receipts of
immediate charges and the profit report, so both always agree."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from rebill.domain.money import round_fraction
from rebill.domain.period import Period, fraction_remaining
from rebill.domain.plan import Plan


@dataclass(frozen=True)
class PlanChange:
    """One row of a sub-account's plan history."""

    effective_at: datetime
    plan: Plan
    change: str  # subscribe | upgrade | downgrade | version (new terms of the same plan)


@dataclass(frozen=True)
class HeldNumber:
    e164: str
    number_type: str
    rented_at: datetime
    released_at: datetime | None

    def held_at(self, instant: datetime) -> bool:
        """Held at `instant` (rented at or before it, not yet released)."""
        released = self.released_at
        return self.rented_at <= instant and (released is None or released > instant)


@dataclass(frozen=True)
class Charge:
    """An immediate or period charge: a line with its exact amount in micros."""

    code: str
    description: str
    at: datetime
    amount_micros: int
    key: str  # what makes it unique for its sub-account (idempotency)


# Changes that take effect at a period start and charge nothing at once: a downgrade, and a
# plan's new terms "from the next period".
SCHEDULED_CHANGES = ("downgrade", "version")


def plan_at(history: Sequence[PlanChange], instant: datetime) -> Plan | None:
    current: Plan | None = None
    for change in history:
        if change.effective_at <= instant:
            current = change.plan
    return current


def renewal_plan(history: Sequence[PlanChange], start: datetime) -> Plan | None:
    """The plan renewed at a period start: changes before it, plus a downgrade (or a plan's new
    terms) scheduled for it. A subscription or upgrade exactly at the start is an immediate
    charge, not a renewal."""
    current: Plan | None = None
    for change in history:
        if change.effective_at < start or (
            change.effective_at == start and change.change in SCHEDULED_CHANGES
        ):
            current = change.plan
    return current


def renewed_numbers(
    numbers: Sequence[HeldNumber], start: datetime, included: int
) -> list[HeldNumber]:
    """Numbers renewed at a period start: rented before it, still held, beyond the included."""
    earlier = [n for n in numbers if n.rented_at < start]
    return numbers_beyond_included(earlier, start, included)


def prorated(monthly_micros: int, at: datetime, tz: ZoneInfo) -> int:
    period = Period.containing(at, tz)
    start, end = period.bounds(tz)
    return round_fraction(monthly_micros * fraction_remaining(at, start, end))


def plan_change_charge(history: Sequence[PlanChange], index: int, tz: ZoneInfo) -> Charge | None:
    """The immediate charge of a subscription or upgrade (a downgrade charges nothing now)."""
    change = history[index]
    at = change.effective_at
    if change.change == "subscribe":
        amount = prorated(change.plan.monthly_fee_micros, at, tz)
        start = Period.containing(at, tz).start(tz)
        code = "plan.fee" if at == start else "plan.proration"
        text = f"{change.plan.name} plan from {at.astimezone(tz):%Y-%m-%d %H:%M}"
    elif change.change == "upgrade":
        previous = plan_at(history[:index], at)
        old_fee = previous.monthly_fee_micros if previous else 0
        amount = prorated(change.plan.monthly_fee_micros - old_fee, at, tz)
        code = "plan.proration"
        text = f"Upgrade to {change.plan.name} from {at.astimezone(tz):%Y-%m-%d %H:%M}"
    else:
        return None
    return Charge(code, text, at, max(0, amount), f"plan:{change.change}:{at.isoformat()}")


def numbers_beyond_included(
    numbers: Sequence[HeldNumber], instant: datetime, included: int
) -> list[HeldNumber]:
    """Numbers held at `instant` that are not covered by the plan: the included ones are the
    earliest rented (ties by number)."""
    if included >= len(numbers):  # no more held than included (most clients)
        return []
    held = sorted((n for n in numbers if n.held_at(instant)), key=lambda n: (n.rented_at, n.e164))
    return held[max(0, included) :]


def number_rental_charge(
    number: HeldNumber, numbers: Sequence[HeldNumber], history: Sequence[PlanChange], tz: ZoneInfo
) -> Charge | None:
    """The prorated first month of a number, when it is beyond the plan's included count."""
    plan = plan_at(history, number.rented_at) or (history[0].plan if history else None)
    if plan is None:
        return None
    beyond = numbers_beyond_included(numbers, number.rented_at, plan.included_numbers)
    if number not in beyond:
        return None
    price = plan.number_monthly_micros.get(number.number_type, 0)
    amount = prorated(price, number.rented_at, tz)
    label = number.number_type.replace("_", "-")
    return Charge(
        f"number.rental.{number.number_type}",
        f"{label} number {number.e164}",
        number.rented_at,
        amount,
        f"number:{number.e164}:{number.rented_at.isoformat()}",
    )


def charges_in(
    history: Sequence[PlanChange],
    numbers: Sequence[HeldNumber],
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
) -> list[Charge]:
    """Every immediate charge that happened in [start, end)."""
    found: list[Charge] = []
    for index, change in enumerate(history):
        if start <= change.effective_at < end:
            charge = plan_change_charge(history, index, tz)
            if charge:
                found.append(charge)
    for number in numbers:
        if start <= number.rented_at < end:
            charge = number_rental_charge(number, numbers, history, tz)
            if charge:
                found.append(charge)
    return found


def recurring_for_period(
    history: Sequence[PlanChange],
    numbers: Sequence[HeldNumber],
    tz: ZoneInfo,
    period: Period,
    bounds: tuple[datetime, datetime] | None = None,
) -> list[Charge]:
    """Recurring revenue attributable to `period`: the renewal at its start (plan fee and
    numbers beyond the included count) and every immediate charge inside it. `bounds` are
    `period.bounds(tz)` when the caller has them already (a close asks once per client)."""
    start, end = bounds or period.bounds(tz)
    label = str(period)
    found: list[Charge] = []
    plan = renewal_plan(history, start)
    if plan is not None:
        found.append(
            Charge(
                "plan.fee",
                f"{plan.name} plan, {label}",
                start,
                plan.monthly_fee_micros,
                f"renewal:{label}",
            )
        )
        for number in renewed_numbers(numbers, start, plan.included_numbers):
            price = plan.number_monthly_micros.get(number.number_type, 0)
            found.append(
                Charge(
                    f"number.rental.{number.number_type}",
                    number.e164,
                    start,
                    price,
                    f"renewal:{label}:{number.e164}",
                )
            )
    found.extend(charges_in(history, numbers, tz, start, end))
    return found
