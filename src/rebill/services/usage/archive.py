"""Months of calls on PostgreSQL: made ahead of time, listed, detached once billed, attached
again (issue 12; `rebill db months`, the worker's `partitions` job, docs/scaling.md).

The rule on detaching: a month may be detached only when every agency with calls in it has
closed it and none of its late calls is waiting for a later close. Detached, its calls stay
whole in their own table, their ids stay known (a call sent again is a duplicate), and every
close and report of other months reads the same numbers (they read `call_totals`, the
period's usage and the invoices, which stay)."""

from __future__ import annotations

from datetime import datetime

from rebill.domain.errors import ConflictError, FieldError, ValidationError
from rebill.domain.period import Period
from rebill.services.ports.archive import CallArchive, CallMonth

# Months made ahead by the worker's job and `rebill db months --ahead` (default).
months_ahead = 2


def _partitioned(archive: CallArchive) -> None:
    if not archive.partitioned:
        problem = "monthly partitions are PostgreSQL's: SQLite keeps one calls table"
        raise ValidationError([FieldError("--db", problem)], "not partitioned")


def _period(text: str) -> Period:
    try:
        return Period.parse(text)
    except ValueError:
        raise ValidationError(
            [FieldError("period", f"{text!r} is not a month like 2026-10")], "invalid month"
        ) from None


def call_months(archive: CallArchive) -> list[CallMonth]:
    _partitioned(archive)
    return archive.months()


def prepare_months(archive: CallArchive, now: datetime, ahead: int = months_ahead) -> list[str]:
    """Partitions from last month (an agency west of UTC is still in it) to `ahead` months
    after this one; the periods made. Nothing on SQLite."""
    if not archive.partitioned:
        return []
    if not 0 <= ahead <= 120:
        raise ValidationError([FieldError("--ahead", "must be 0 to 120 months")], "invalid input")
    month = Period(now.year, now.month).previous()
    wanted = [str(month)]
    for _ in range(ahead + 1):
        month = month.next()
        wanted.append(str(month))
    return archive.prepare(wanted)


def detach_month(archive: CallArchive, period: str, now: datetime) -> CallMonth:
    _partitioned(archive)
    month = _period(period)
    if month >= Period(now.year, now.month).previous():
        raise ConflictError(
            f"month {month} is too recent to detach: only months before last month can be "
            "(late calls may still arrive for it and its closes may not have run)"
        )
    billing = archive.billing(str(month))
    open_ = [a for a in billing.agencies if a not in billing.closed]
    if open_:
        raise ConflictError(
            f"month {month} is not closed by every agency with calls in it: "
            f"{', '.join(open_)} (run `rebill close --period {month}` first)"
        )
    if billing.unbilled_late_calls:
        raise ConflictError(
            f"month {month} has {billing.unbilled_late_calls} late call(s) not billed yet: "
            "close the current period first"
        )
    return archive.detach(str(month))


def attach_month(archive: CallArchive, period: str) -> CallMonth:
    _partitioned(archive)
    return archive.attach(str(_period(period)))
