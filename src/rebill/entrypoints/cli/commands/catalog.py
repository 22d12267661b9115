"""`rebill apply`: the catalog file (platform, agencies, plans, sub-accounts, numbers)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rebill.entrypoints.cli.boundary import open_app
from rebill.entrypoints.cli.common import DbOption, JsonOption, out, print_json

cli = typer.Typer()


@cli.command("apply")
def apply_command(
    file: Annotated[Path, typer.Argument(help="Catalog file (YAML or JSON).")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create or update platform, agencies, plans, sub-accounts and numbers from a catalog."""
    from rebill.entrypoints.cli.files import load_document
    from rebill.services.catalog.apply import apply_catalog

    rebill = open_app(db)
    report = apply_catalog(
        rebill.uow, load_document(file), str(file), rebill.clock.now(), base_dir=file.parent
    )
    document = {"created": report.created, "updated": report.updated, "receipts": report.receipts}
    if as_json:
        print_json(document)
        return
    parts = [f"{n} {k} created" for k, n in report.created.items()]
    parts += [f"{n} {k} unchanged or updated" for k, n in report.updated.items()]
    out.print(f"applied {file}: " + (", ".join(parts) or "nothing to do"))
    if report.receipts:
        out.print(f"receipts issued: {', '.join(report.receipts)}")
