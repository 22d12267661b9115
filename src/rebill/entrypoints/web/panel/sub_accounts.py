"""`/panel/sub-accounts`: the agency's clients; one client's usage chart, caps, credits,
numbers and invoices; setting its caps (`settings`) and recording credits it paid for outside
the gateway (`billing`)."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from rebill.domain.errors import NotFoundError, ValidationError
from rebill.entrypoints.web.common import PageError, Web, chart, field_messages
from rebill.entrypoints.web.deps import Staff, WebFaces
from rebill.entrypoints.web.panel.pages import (
    actor,
    agency_of,
    error_fields,
    must,
    page,
    parse_period,
)
from rebill.services.access.users import WebSession
from rebill.services.views import clients
from rebill.services.views import panel as views
from rebill.services.wallets.credits import record_credit_purchase

router = APIRouter(prefix="/panel", include_in_schema=False)


def sub_page(
    web: Web,
    request: Request,
    session: WebSession,
    sub_id: str,
    errors: dict[str, str] | None = None,
) -> Response:
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
    return page(
        web,
        request,
        session,
        "panel/sub_account.html",
        status=422 if errors else 200,
        sub=view,
        chart=chart(view["chart"], included),
        errors=errors or {},
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
    form = await web.form(request, session)
    must(session, "settings")
    rebill = web.rebill
    try:
        sub_id = clients.add_client(
            rebill.uow, agency_of(session), form, actor(session), rebill.clock.now()
        )
    except ValidationError as exc:
        errors = field_messages(exc.field_errors) or {"form": exc.summary}
        return new_client_page(web, request, session, form, errors)
    return RedirectResponse(f"/panel/sub-accounts/{sub_id}?saved=client", 303)


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
        errors = {"caps": exc.summary, **error_fields(exc)}
        return sub_page(web, request, session, sub_id, errors)
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
            form.get("amount", "").strip(),
            rebill.clock.now(),
            f"panel:{secrets.token_hex(8)}",
        )
    except NotFoundError:
        raise PageError(404, "this sub-account does not exist") from None
    except ValidationError as exc:
        errors = {"credits": exc.summary, **error_fields(exc)}
        return sub_page(web, request, session, sub_id, errors)
    return RedirectResponse(f"/panel/sub-accounts/{sub_id}?saved=credits", 303)
