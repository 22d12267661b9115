"""The SQL unit of work: `with uow:` opens a session; leaving without `commit()` rolls
everything back. Repositories are handed out per tenant (`for_agency`) or for the platform
(`platform`), all over the one session."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from rebill.adapters.db.read_cache import SESSION_KEY, cache_of
from rebill.adapters.db.repositories.views import SqlAgencyView, SqlPlatformView
from rebill.domain.errors import ConcurrentWriteError
from rebill.services.ports.uow import UnitOfWorkFactory

# PostgreSQL's codes for a race lost to a concurrent transaction: unique_violation,
# serialization_failure, deadlock_detected. The work was rolled back whole; it may be retried.
RACE_SQLSTATES = frozenset({"23505", "40001", "40P01"})


def lost_race(exc: BaseException | None) -> bool:
    """A driver error wrapped by SQLAlchemy, or raised by the driver itself (the calls' COPY
    runs on the driver's cursor)."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    return getattr(orig, "sqlstate", None) in RACE_SQLSTATES


class SqlUnitOfWork:
    """`with uow:` opens a session; `commit()` commits it; leaving rolls back the rest."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory
        self._session: Session | None = None
        self._views: dict[str, SqlAgencyView] = {}
        self._platform: SqlPlatformView | None = None

    @property
    def session(self) -> Session:
        """The open session (tests and benchmarks reach the database through it)."""
        assert self._session is not None, "use the unit of work inside `with uow:`"
        return self._session

    @property
    def platform(self) -> SqlPlatformView:
        if self._platform is None:
            self._platform = SqlPlatformView(self.session)
        return self._platform

    def for_agency(self, agency_id: str) -> SqlAgencyView:
        view = self._views.get(agency_id)
        if view is None:
            view = self._views[agency_id] = SqlAgencyView(self.session, agency_id)
        return view

    def __enter__(self) -> SqlUnitOfWork:
        self._session = self._factory()
        self._views.clear()
        self._platform = None
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.session.close()  # rolls back whatever was not committed
        if lost_race(exc):
            raise ConcurrentWriteError() from exc

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()


def unit_of_work_factory(engine: Engine, read_cache: bool = True) -> UnitOfWorkFactory:
    """Units of work over `engine`; with `read_cache`, repositories read keys, agencies,
    plans, sub-accounts and the wholesale card through the engine's `ReadCache`."""
    info = {SESSION_KEY: cache_of(engine)} if read_cache else {}
    factory = sessionmaker(bind=engine, expire_on_commit=False, info=info)
    return lambda: SqlUnitOfWork(factory)
