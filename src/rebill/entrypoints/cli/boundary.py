"""The one boundary between a command and the process: an expected failure (`BillingError`)
becomes a message on stderr and an exit status (`EXIT_CODES`), and the databases a command
opened are closed when it ends. `app.RootGroup.invoke` runs every command inside `guarded`;
commands raise, they never print their own failures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn, TypeVar

import typer

from rebill.domain.errors import (
    BillingError,
    ConflictError,
    NotFoundError,
    TaxNotConfiguredError,
    ValidationError,
)

if TYPE_CHECKING:
    from rebill.bootstrap import App

EXIT_CODES: dict[type[BillingError], int] = {
    ValidationError: 1,
    TaxNotConfiguredError: 3,
    NotFoundError: 4,
    ConflictError: 5,
}
# `invoices charge` when the gateway answered but the invoice is still open (declined card,
# authentication needed): the JSON document says why.
EXIT_PAYMENT_FAILED = 6

T = TypeVar("T")
# The apps `open_app` built during the running command, closed by `guarded` when it ends.
_opened: list[App] = []


def fail(error: BillingError) -> NoReturn:
    """Say what was wrong on stderr (with the fixes a tax setup needs) and exit with the
    error's status."""
    from rebill.entrypoints.cli.common import err, plain

    err.print(
        f"[bold red]error[/] ({error.code}): {plain(error.message)}",
        highlight=False,
        soft_wrap=True,
    )
    if isinstance(error, TaxNotConfiguredError):
        for fix in error.fixes:
            err.print(f"  fix: {plain(fix)}", highlight=False)
    code = next((c for t, c in EXIT_CODES.items() if isinstance(error, t)), 1)
    raise typer.Exit(code)


def open_app(db: str | None) -> App:
    """The app on `--db` (or REBILL_DATABASE_URL), its schema migrated; closed when the
    command ends."""
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    from rebill.bootstrap import build
    from rebill.config import Settings
    from rebill.entrypoints.cli.common import err, plain

    try:
        app = build(Settings.from_env(db))
    except ValueError as exc:
        err.print(f"[bold red]error[/]: {plain(exc)}", highlight=False)
        raise typer.Exit(1) from None
    except (SQLAlchemyError, ImportError) as exc:
        # a URL of no known database, a driver not installed, a server or file not reachable
        # (the driver's own words; the URL, which may hold a password, is not repeated)
        reason = exc.orig if isinstance(exc, DBAPIError) else exc
        problem = str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason)
        err.print(
            f"[bold red]error[/]: cannot open the database (--db): {plain(problem)}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None
    return opened(app)


def opened(app: App) -> App:
    """Close `app` (its database connections) when the running command ends."""
    _opened.append(app)
    return app


@contextmanager
def _closing_opened() -> Iterator[None]:
    try:
        yield
    finally:
        # Closing the pool ends SQLite's write-ahead log cleanly, and lets the process skip
        # collecting the connections at exit (`app.main`).
        while _opened:
            _opened.pop().dispose()


def guarded(invoke: Callable[[], T]) -> T:
    """Run a command: a `BillingError` it raises is reported by `fail`."""
    with _closing_opened():
        try:
            return invoke()
        except BillingError as error:
            fail(error)
