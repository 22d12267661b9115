"""`rebill users`: the people who sign in to the panel, the console and the portal."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from rebill.entrypoints.cli.boundary import open_app
from rebill.entrypoints.cli.common import (
    AgencyOption,
    DbOption,
    JsonOption,
    err,
    out,
    print_json,
)

users_app = typer.Typer(
    no_args_is_help=True,
    help="People who sign in to the panel and portal: create, set-role, disable, enable.",
)
cli = typer.Typer()
cli.add_typer(users_app, name="users")


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option("--email")],
    agency: Annotated[str | None, typer.Option("--agency", help="Agency ID")] = None,
    role: Annotated[
        str | None,
        typer.Option("--role", help="admin, billing, settings or viewer (agency staff)"),
    ] = None,
    sub_account: Annotated[
        str | None, typer.Option("--sub-account", help="A client of this sub-account")
    ] = None,
    platform: Annotated[bool, typer.Option("--platform", help="A platform console user")] = False,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the password from standard input (its first line)"
        ),
    ] = False,
    password_argv: Annotated[
        str | None, typer.Option("--password", hidden=True, help="Refused: use the prompt")
    ] = None,
    db: DbOption = None,
) -> None:
    """Create a sign-in: `--platform`, `--agency ID --role admin|billing|settings|viewer`, or
    `--agency ID --sub-account ID` for a client of the portal. The password is asked for
    (hidden, twice) or read from stdin with `--password-stdin`; never from the command line,
    where `ps` shows it to everyone on the machine."""
    from rebill.services.access.users import create_user

    if password_argv is not None:
        err.print(
            "[bold red]error[/]: --password is no longer accepted (the command line is visible "
            "to other users); answer the prompt or pipe it with --password-stdin",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    chosen = "platform" if platform else ("client" if sub_account else (role or "admin"))
    rebill = open_app(db)
    user = create_user(
        rebill.uow,
        rebill.passwords,
        email,
        password,
        chosen,
        agency,
        sub_account,
        rebill.clock.now(),
    )
    out.print(f"created {user.role} user {user.email} ({user.id})")


UserOption = Annotated[str, typer.Option("--user", help="The user's e-mail or ID")]
CLI_ACTOR = "operator (cli)"  # how the audit log names a change made here


def _report(changed: object, as_json: bool) -> None:
    from dataclasses import asdict

    from rebill.services.access.people import Changed

    assert isinstance(changed, Changed)
    if as_json:
        print_json({**asdict(changed), "changed": changed.changed})
    elif changed.changed:
        ended = f"; {changed.sessions_ended} session(s) ended" if changed.sessions_ended else ""
        out.print(f"{changed.email}: {changed.field} {changed.old} -> {changed.new}{ended}")
    else:
        out.print(f"{changed.email}: {changed.field} is {changed.new} already; nothing changed")


@users_app.command("set-role")
def users_set_role(
    agency: AgencyOption,
    user: UserOption,
    role: Annotated[str, typer.Option("--role", help="admin, billing, settings or viewer")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Give an agency's staff member another role (a client's contact keeps its client).

    The agency keeps at least one active admin; the change is in the agency's audit log."""
    from rebill.services.access.invitations import Inviter
    from rebill.services.access.people import find_user, set_role

    rebill = open_app(db)
    user_id = find_user(rebill.uow, agency, user)
    operator = Inviter(CLI_ACTOR, "platform", None)
    _report(set_role(rebill.uow, operator, agency, user_id, role, rebill.clock.now()), as_json)


@users_app.command("disable")
def users_disable(
    agency: AgencyOption,
    user: UserOption,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Disable a user: their sessions end at once and their sign-in is refused.

    The agency's last active admin is never disabled; the change is in the audit log."""
    _set_disabled(agency, user, True, db, as_json)


@users_app.command("enable")
def users_enable(
    agency: AgencyOption,
    user: UserOption,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Enable a disabled user: they may sign in again."""
    _set_disabled(agency, user, False, db, as_json)


def _set_disabled(agency: str, user: str, disabled: bool, db: str | None, as_json: bool) -> None:
    from rebill.services.access.invitations import Inviter
    from rebill.services.access.people import find_user, set_disabled

    rebill = open_app(db)
    user_id = find_user(rebill.uow, agency, user)
    operator = Inviter(CLI_ACTOR, "platform", None)
    changed = set_disabled(rebill.uow, operator, agency, user_id, disabled, rebill.clock.now())
    _report(changed, as_json)
