"""`rebill domains`: agencies' custom portal domains, which the platform approves or DNS
proves."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from rebill.entrypoints.cli.boundary import open_app
from rebill.entrypoints.cli.common import (
    AgencyOption,
    AllAgenciesOption,
    DbOption,
    JsonOption,
    out,
    print_json,
)

domains_app = typer.Typer(
    no_args_is_help=True, help="Agencies' custom portal domains (the platform approves)."
)
cli = typer.Typer()
cli.add_typer(domains_app, name="domains")

DomainOption = Annotated[str, typer.Option("--domain")]


def print_domain(found: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(found)
        return
    check = found["verification"]
    hint = f"; publish TXT {check['name']} = {check['value']}" if check else ""
    out.print(f"{found['agency']}  {found['domain']}  {found['status']}{hint}", highlight=False)


@domains_app.command("list")
def domains_list(
    agency: AllAgenciesOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Domains asked for and active, with the TXT record a pending one waits for."""
    from rebill.services.brand import domains

    found = domains.list_domains(open_app(db).uow, agency)
    if as_json:
        print_json(found)
        return
    for d in found:
        check = d["verification"]
        hint = f"  (TXT {check['name']} = {check['value']})" if check else ""
        out.print(f"{d['agency']}  {d['domain']}  {d['status']}{hint}", highlight=False)


@domains_app.command("request")
def domains_request(
    agency: AgencyOption, domain: DomainOption, db: DbOption = None, as_json: JsonOption = False
) -> None:
    """Ask for a portal domain for an agency (pending until approved or verified)."""
    from rebill.services.brand import domains

    rebill = open_app(db)
    hosts = domains.PlatformHosts(rebill.settings.own_hosts())
    found = domains.request_domain(rebill.uow, agency, domain, hosts, rebill.clock.now())
    print_domain(found, as_json)


@domains_app.command("approve")
def domains_approve(
    agency: AgencyOption, domain: DomainOption, db: DbOption = None, as_json: JsonOption = False
) -> None:
    """The platform's approval: the domain becomes the agency's portal host."""
    from rebill.services.brand import domains

    rebill = open_app(db)
    print_domain(domains.approve_domain(rebill.uow, agency, domain, rebill.clock.now()), as_json)


@domains_app.command("verify")
def domains_verify(
    agency: AgencyOption, domain: DomainOption, db: DbOption = None, as_json: JsonOption = False
) -> None:
    """Activate a pending domain whose DNS TXT record proves control."""
    from rebill.services.brand import domains

    rebill = open_app(db)
    found = domains.verify_domain(rebill.uow, rebill.dns(), agency, domain, rebill.clock.now())
    print_domain(found, as_json)


@domains_app.command("remove")
def domains_remove(agency: AgencyOption, domain: DomainOption, db: DbOption = None) -> None:
    """Forget a domain (an active one stops serving the agency's portal)."""
    from rebill.services.brand import domains

    domains.remove_domain(open_app(db).uow, agency, domain)
    out.print(f"{domain} removed", highlight=False)
