"""When a change of the platform's wholesale card reaches the agencies (issue 15).

A change is made at once (as before) or from a later period `P` ("YYYY-MM"): calls of every
agency's periods before `P` are rated, and those periods closed, on the card in force before;
calls of `P` and later on the new card, in each agency's own timezone. The periods are labels,
so "from 2027-01" means each agency's January, wherever it is.

- A period may be chosen only while it has not begun anywhere: its first instant in the
  timezone furthest ahead (UTC+14) is still to come. So no call already rated can fall in it.
- The card "in force now" (what the console shows, what an at-once change is compared with)
  is the platform's: the card of the current period in UTC.
- A change made at once replaces the card set at once and forgets the scheduled changes whose
  period has begun somewhere (they are superseded); changes scheduled for later stay.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rebill.domain.account import Platform
from rebill.domain.errors import ConflictError, NotFoundError
from rebill.domain.period import Period
from rebill.domain.plan import WholesaleCard
from rebill.services.catalog.document import wholesale_document
from rebill.services.ports import (
    AuditEntry,
    PlatformView,
    ScheduledCard,
    UnitOfWorkFactory,
    WholesalePrices,
)

_UTC = ZoneInfo("UTC")
_EARLIEST = timedelta(hours=14)  # UTC+14 (Kiribati): where a period starts first
choices_max = 12  # periods offered by the console


def current_period(now: datetime) -> str:
    """The platform's current period: the month of `now` in UTC."""
    return str(Period.containing(now.astimezone(UTC), _UTC))


def has_started(period: str, now: datetime) -> bool:
    """Whether `period` has begun in some timezone (at UTC+14 first)."""
    return Period.parse(period).start(_UTC) - _EARLIEST <= now


def later_periods(now: datetime, count: int = choices_max) -> list[str]:
    """The next `count` periods that have begun nowhere yet, earliest first."""
    period = Period.containing(now.astimezone(UTC), _UTC)
    found: list[str] = []
    while len(found) < count:
        period = period.next()
        if not has_started(str(period), now):
            found.append(str(period))
    return found


def from_problem(period: str, now: datetime) -> str | None:
    """Why `period` cannot be a wholesale change's first period, or None."""
    try:
        Period.parse(period)
    except ValueError as exc:
        return str(exc)
    if has_started(period, now):
        first = later_periods(now, 1)[0]
        return (
            f"{period} has already begun in some timezone; a scheduled change starts with "
            f"a period that has not ({first} or later), or is made at once"
        )
    return None


def card_document(card: WholesaleCard) -> dict[str, Any]:
    """The card as a catalog file writes `platform.wholesale`."""
    return wholesale_document(
        card.voice, card.number_monthly_micros, card.agency_monthly_fee_micros
    )


def schedule_document(uow_factory: UnitOfWorkFactory, now: datetime) -> dict[str, Any]:
    """The platform's card in force now and every change still to begin, as documents."""
    period = current_period(now)
    with uow_factory() as uow:
        card = uow.platform.wholesale.card(period)
        scheduled = uow.platform.wholesale.scheduled()
    return {
        "period": period,
        "in_force": card_document(card),
        "scheduled": [
            {
                "from": c.period,
                "wholesale": card_document(c.card),
                "scheduled_at": c.scheduled_at.isoformat(),
                "scheduled_by": c.scheduled_by,
            }
            for c in scheduled
            if not has_started(c.period, now)
        ],
    }


def cancel(uow_factory: UnitOfWorkFactory, period: str, actor: str, now: datetime) -> None:
    """Forget the change scheduled for `period`, before it begins anywhere (audited)."""
    with uow_factory() as uow:
        if period not in {c.period for c in uow.platform.wholesale.scheduled()}:
            raise NotFoundError(f"no wholesale change is scheduled for {period}")
        if has_started(period, now):
            raise ConflictError(
                f"the wholesale change from {period} has begun; make a change at once instead"
            )
        uow.platform.wholesale.unschedule([period])
        uow.platform.audit.add(
            AuditEntry(now, actor, "platform", "wholesale_from", period, "cancelled")
        )
        uow.commit()


def apply_card(
    platform: PlatformView,
    settings: Platform,
    prices: WholesalePrices,
    fee: int | None,
    first_period: str | None,
    now: datetime,
    actor: str,
) -> None:
    """The platform's card: scheduled from `first_period` on, or changed at once (when it
    differs from the card in force now, which then forgets the scheduled changes that have
    begun: docs/billing-model.md, wholesale changes)."""
    in_force = platform.wholesale.card(current_period(now))
    card = WholesaleCard(
        {**in_force.voice, **prices.voice},
        {**in_force.number_monthly_micros, **prices.number_monthly_micros},
        in_force.agency_monthly_fee_micros if fee is None else fee,
    )
    if first_period is not None:
        platform.settings.save(settings, None)
        platform.wholesale.schedule(ScheduledCard(first_period, card, now, actor))
        return
    if card == in_force:
        platform.settings.save(settings, None)
        return
    platform.settings.save(settings, card.agency_monthly_fee_micros)
    platform.wholesale.save(WholesalePrices(card.voice, card.number_monthly_micros))
    started = [c.period for c in platform.wholesale.scheduled() if has_started(c.period, now)]
    platform.wholesale.unschedule(started)
