"""`/panel/sub-accounts`: the agency's clients; adding one (`settings`), its contact invited
to the portal by e-mail when asked; one client's usage chart, usage by campaign, caps,
credits, numbers and invoices; setting its caps (`settings`) and recording credits it paid
for outside the gateway (`billing`)."""

from __future__ import annotations

import csv
import io
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from rebill.domain.errors import (
    BillingError,
    ConflictError,
    ForbiddenFieldError,
    NotFoundError,
    ValidationError,
)
from rebill.domain.period import Period
from rebill.entrypoints.web.common import PageError, Web, chart, field_messages, send_invitation
from rebill.entrypoints.web.deps import Staff, WebFaces
from rebill.entrypoints.web.panel.pages import (
    actor,
    agency_of,
    error_fields,
    must,
    page,
    parse_period,
)
from rebill.services.access import invitations
from rebill.services.access.invitations import Inviter
from rebill.services.access.users import WebSession
from rebill.services.invoicing.billing import credit_purchase_units_max
from rebill.services.views import clients
from rebill.services.views import panel as views
from rebill.services.views.forms import percent_list, plain_number
from rebill.services.views.reports import usage_by_campaign
from rebill.services.wallets.credits import record_credit_purchase

router = APIRouter(prefix="/panel", include_in_schema=False)


def sub_page(
    web: Web,
    request: Request,
    session: WebSession,
    sub_id: str,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """A client's page; after a refusal, `errors` by field and the form as it was typed."""
    rebill = web.rebill
    try:
        view = views.sub_account_view(
            rebill.uow,
            agency_of(session),
            sub_id,
            parse_period(request.query_params.get("period")),
            rebill.clock.now(),
        )
    except NotFoundError:
        raise PageError(404, "this sub-account does not exist") from None
    included = view["included_minutes"] if view["chart_period"] == view["period"] else None
    by_campaign = usage_by_campaign(
        rebill.uow, agency_of(session), Period.parse(view["chart_period"])
    )
    return page(
        web,
        request,
        session,
        "panel/sub_account.html",
        status=422 if errors else 200,
        sub=view,
        chart=chart(view["chart"], included),
        errors=errors or {},
        campaigns=[r for r in by_campaign["rows"] if r["sub_account"] == sub_id],
        credit_max=f"{credit_purchase_units_max:,}",
        values=values or _caps_values(view["caps"]),
    )


@router.get("/sub-accounts")
def sub_accounts(request: Request, session: Staff, web: WebFaces) -> Response:
    rebill = web.rebill
    sort = request.query_params.get("sort", "name")
    descending = request.query_params.get("order", "asc") == "desc"
    table = clients.client_economics(
        rebill.uow, agency_of(session), rebill.clock.now(), sort, descending
    )
    return page(web, request, session, "panel/sub_accounts.html", table=table)


@router.get("/sub-accounts.csv")
def sub_accounts_csv(request: Request, session: Staff, web: WebFaces) -> Response:
    """The clients table as CSV (exact amounts, in the table's order)."""
    rebill = web.rebill
    sort = request.query_params.get("sort", "name")
    descending = request.query_params.get("order", "asc") == "desc"
    table = clients.client_economics(
        rebill.uow, agency_of(session), rebill.clock.now(), sort, descending
    )
    columns = ("id", "name", "plan", "state", "minutes", "revenue", "cost", "margin", "spend")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["period", *columns, "spend_cap", "last_margin", "currency"])
    for row in table["rows"]:
        values = [row[c] for c in columns]
        extra = [row["cap"] or "", row["last_margin"] or "", table["currency"]]
        writer.writerow([table["period"], *values, *extra])
    name = f"clients-{table['period']}.csv"
    return Response(
        buffer.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def new_client_page(
    web: Web,
    request: Request,
    session: WebSession,
    values: dict[str, str],
    errors: dict[str, str],
) -> Response:
    form = clients.new_client_form(web.rebill.uow, agency_of(session))
    return page(
        web,
        request,
        session,
        "panel/new_client.html",
        status=422 if errors else 200,
        form=form,
        values=values,
        errors=errors,
    )


@router.get("/sub-accounts/new")
def new_client(request: Request, session: Staff, web: WebFaces) -> Response:
    return new_client_page(web, request, session, {"country": "US"}, {})


@router.post("/sub-accounts/new")
async def post_new_client(request: Request, session: Staff, web: WebFaces) -> Response:
    """Add the client; with an e-mail under "Invite to the portal", invite its contact too
    (checked before the client is added, so a refusal adds nothing)."""
    form = await web.form(request, session)
    must(session, "settings")
    rebill = web.rebill
    invitee = form.get("invite_email", "").strip()
    inviter = Inviter(actor(session), session.user.role, agency_of(session))
    try:
        if invitee:
            invitations.check_invitation(
                rebill.uow,
                rebill.mailer,
                inviter,
                agency_of(session),
                invitee,
                "client",
                rebill.clock.now(),
                email_field="invite_email",
            )
        sub_id = clients.add_client(
            rebill.uow, agency_of(session), form, actor(session), rebill.clock.now()
        )
    except ValidationError as exc:
        errors = field_messages(exc.field_errors) or {"form": exc.summary}
        return new_client_page(web, request, session, form, errors)
    except ConflictError as exc:  # no mail server, or the day's invitations are used up
        return new_client_page(web, request, session, form, {"invite_email": exc.message})
    except ForbiddenFieldError as exc:
        raise PageError(403, exc.message) from None
    if not invitee:
        return RedirectResponse(f"/panel/sub-accounts/{sub_id}?saved=client", 303)
    try:
        sent = await send_invitation(
            rebill, inviter, agency_of(session), invitee, "client", sub_id, "invite_email"
        )
        saved = "client_unsent" if sent.error else "client_invited"
    except BillingError:  # the client stands; the invitation is sent again from Users
        saved = "client_unsent"
    return RedirectResponse(f"/panel/sub-accounts/{sub_id}?saved={saved}", 303)


@router.get("/sub-accounts/{sub_id}")
def sub_account(request: Request, sub_id: str, session: Staff, web: WebFaces) -> Response:
    return sub_page(web, request, session, sub_id)


@router.post("/sub-accounts/{sub_id}/caps")
async def post_caps(request: Request, sub_id: str, session: Staff, web: WebFaces) -> Response:
    form = await web.form(request, session)
    must(session, "settings")
    rebill = web.rebill
    try:
        views.update_caps(
            rebill.uow, agency_of(session), sub_id, form, actor(session), rebill.clock.now()
        )
    except NotFoundError:
        raise PageError(404, "this sub-account does not exist") from None
    except ValidationError as exc:
        errors = {"caps": "The caps were not saved; what you typed is kept.", **error_fields(exc)}
        return sub_page(web, request, session, sub_id, errors, form)
    return RedirectResponse(f"/panel/sub-accounts/{sub_id}?saved=caps", 303)


@router.post("/sub-accounts/{sub_id}/credits")
async def post_credits(request: Request, sub_id: str, session: Staff, web: WebFaces) -> Response:
    form = await web.form(request, session)
    must(session, "billing")
    rebill = web.rebill
    try:
        record_credit_purchase(
            rebill.uow,
            agency_of(session),
            sub_id,
            plain_number(form.get("amount", "")),
            rebill.clock.now(),
            f"panel:{secrets.token_hex(8)}",
        )
    except NotFoundError:
        raise PageError(404, "this sub-account does not exist") from None
    except ValidationError as exc:
        errors = {"credits": "No credits were added.", **error_fields(exc)}
        if plain_number(form.get("amount", "")).startswith("-"):
            errors["amount"] = (
                "Credits added must be more than 0: a negative amount would take money back. "
                "To give money back, refund the client's receipt on the Invoices page."
            )
        return sub_page(web, request, session, sub_id, errors, form)
    return RedirectResponse(f"/panel/sub-accounts/{sub_id}?saved=credits", 303)


def _caps_values(caps: dict[str, Any]) -> dict[str, str]:
    minutes = caps.get("monthly_minutes")
    return {
        "monthly_spend": caps.get("monthly_spend") or "",
        "monthly_minutes": str(minutes) if minutes is not None else "",
        "alerts": percent_list(list(caps.get("alerts") or [])),
        "enforcement": str(caps.get("enforcement") or "notify"),
    }
