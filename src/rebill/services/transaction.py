"""Several services, each of which opens its own unit of work, run in one transaction.

Issue 13: an authorization checks its API key (`access.keys.authenticate`) and then decides
(`usage.authorize.authorize_call`); each opens a unit of work, so the pair cost two sessions,
two BEGINs and two reads of the read cache's version. Run with `one_transaction`, both read
one snapshot through one session; a single recorded call and its key check likewise. Only for
work that reads, or whose writes may commit together: a lent unit of work is the open one, so
a service's `commit()` commits what every service before it did in the block, and a service's
failure rolls back what the block did before it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from rebill.services.ports.uow import AgencyView, PlatformView, UnitOfWork, UnitOfWorkFactory


class _Lent:
    """The open unit of work, lent to a service that opens its own: entering it opens nothing
    and leaving it closes nothing (what was not committed is rolled back when the lender's
    block ends, as it would have been when the service's own block ended). Leaving it with an
    exception ends the transaction as the service's own unit of work would have: rolled back
    whole, a race lost to a concurrent transaction raised as `ConcurrentWriteError`, so that
    a service that reruns its work (`races.rerun_on_race`) reruns it in a new transaction."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    @property
    def platform(self) -> PlatformView:
        return self._uow.platform

    def for_agency(self, agency_id: str) -> AgencyView:
        return self._uow.for_agency(agency_id)

    def __enter__(self) -> UnitOfWork:
        return self._uow

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self._uow.__exit__(exc_type, exc, tb)

    def commit(self) -> None:
        self._uow.commit()

    def rollback(self) -> None:
        self._uow.rollback()


@contextmanager
def one_transaction(uow_factory: UnitOfWorkFactory) -> Iterator[UnitOfWorkFactory]:
    """A factory whose every unit of work, inside the block, is the one this block opened."""
    with uow_factory() as uow:
        lent = _Lent(uow)
        yield lambda: lent
