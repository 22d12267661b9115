"""`rebill users`: the people who sign in to the panel, the console and the portal."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from rebill.entrypoints.cli.boundary import open_app
from rebill.entrypoints.cli.common import DbOption, err, out

users_app = typer.Typer(no_args_is_help=True, help="People who sign in to the panel and portal.")
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
