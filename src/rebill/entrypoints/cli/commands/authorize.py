"""`rebill authorize`: may a sub-account start a call now, and for how long."""

from __future__ import annotations

from typing import Annotated

import typer

from rebill.entrypoints.cli.boundary import open_app
from rebill.entrypoints.cli.common import (
    AgencyOption,
    DbOption,
    JsonOption,
    deliver_pending_alerts,
    out,
    print_json,
)

cli = typer.Typer()


@cli.command("authorize")
def authorize_command(
    agency: AgencyOption,
    sub_account: Annotated[str, typer.Option("--sub-account")],
    direction: Annotated[str, typer.Option("--direction", help="inbound or outbound")],
    call_id: Annotated[
        str | None, typer.Option("--call-id", help="Reserve a parallel-call slot for this call")
    ] = None,
    campaign_id: Annotated[
        str | None,
        typer.Option(
            "--campaign-id",
            help="The call's campaign: refused (campaign_limit) if it would open one too many",
        ),
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """May this sub-account start a call now, and for how long (BILLING_MODEL §8)?"""
    from rebill.services.usage.authorize import authorize_call

    rebill = open_app(db)
    result = authorize_call(
        rebill.uow, agency, sub_account, direction, call_id, rebill.clock.now(), campaign_id
    )
    deliver_pending_alerts(rebill)
    document = result.document()
    if as_json:
        print_json(document)
        return
    decision = result.decision
    if decision.allowed:
        longest = decision.max_duration_seconds
        limit = "no limit" if longest is None else f"at most {longest} s"
        out.print(f"[green]allowed[/]: {limit}")
    else:
        out.print(f"[red]refused[/]: {decision.reason}")
