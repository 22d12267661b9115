"""`rebill keys`: API keys, shown once when created and stored hashed."""

from __future__ import annotations

from typing import Annotated

import typer

from rebill.domain.errors import ValidationError
from rebill.entrypoints.cli.boundary import open_app
from rebill.entrypoints.cli.common import DbOption, JsonOption, out, print_json

keys_app = typer.Typer(no_args_is_help=True, help="API keys (shown once, stored hashed).")
cli = typer.Typer()
cli.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    platform: Annotated[bool, typer.Option("--platform", help="A platform key")] = False,
    agency: Annotated[str | None, typer.Option("--agency")] = None,
    role: Annotated[str | None, typer.Option("--role", help="admin, billing or settings")] = None,
    sub_account: Annotated[str | None, typer.Option("--sub-account")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an API key and print it once."""
    from rebill.services.access.keys import create_key

    rebill = open_app(db)
    if platform == bool(agency):
        raise ValidationError([], "give either --platform or --agency")
    kind = "platform" if platform else ("sub_account" if sub_account else "agency")
    key, key_id = create_key(rebill.uow, kind, agency, sub_account, role, rebill.clock.now())
    if as_json:
        print_json({"key": key, "id": key_id})
        return
    out.print(f"key {key_id} (shown once, keep it secret):")
    out.print(key, highlight=False, soft_wrap=True)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (key_…)")], db: DbOption = None
) -> None:
    """Revoke an API key at once."""
    from rebill.services.access.keys import revoke_key

    rebill = open_app(db)
    revoke_key(rebill.uow, key_id, rebill.clock.now())
    out.print(f"revoked {key_id}")
