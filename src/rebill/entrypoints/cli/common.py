"""What the command modules share: the options most commands take (`--db`, `--json`,
`--agency`), the two consoles (made on first use), JSON on stdout, `--period` and the alert
e-mails a command leaves to send. Opening the app and reporting failures is `boundary`'s."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from rebill.bootstrap import App
    from rebill.domain.period import Period


class LazyConsole:
    """A Rich console made when first printed to: a command that prints only JSON (`--json`)
    never imports Rich's console and its text, style and emoji modules."""

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        """The console itself, for Rich's own users of one (a progress bar, a report)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        return self._console

    def print(self, *objects: Any, **options: Any) -> None:
        from rich.errors import MarkupError

        try:
            self.console.print(*objects, **options)
        except MarkupError:  # a value reads as markup ("[/x]"): print the text as it is
            self.console.print(*objects, **{**options, "markup": False})


def plain(value: object) -> str:
    """`value` as text that Rich prints as it is (a "[/x]" or "[a-z]" in it is not markup)."""
    from rich.markup import escape

    return escape(str(value))


out = LazyConsole()
err = LazyConsole(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", help="SQLAlchemy URL (default sqlite:///rebill.db or REBILL_DATABASE_URL)"
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
AgencyOption = Annotated[str, typer.Option("--agency", help="Agency ID.")]
AllAgenciesOption = Annotated[str | None, typer.Option("--agency", help="Agency ID (default: all)")]


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def parse_period(text: str) -> Period:
    from rebill.domain.period import Period

    try:
        return Period.parse(text)
    except ValueError as exc:
        err.print(f"[bold red]error[/]: --period: {plain(exc)}", highlight=False)
        raise typer.Exit(1) from None


def masked_url(url: str) -> str:
    """A database URL fit to print: its password replaced by ***."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy reads: print nothing of it
        return "(unreadable URL)"


def deliver_pending_alerts(rebill: App) -> None:
    """E-mail new alerts when an SMTP server is configured (REBILL_SMTP_HOST)."""
    from rebill.services.notifications.alerts import deliver_alerts

    if rebill.mailer is None:
        return
    try:
        sent = deliver_alerts(rebill.uow, rebill.mailer, rebill.clock.now())
    except OSError as exc:
        err.print(f"[yellow]warning[/]: alerts kept undelivered, SMTP failed: {plain(exc)}")
        return
    if sent:
        err.print(f"{sent} alert e-mail(s) sent")
