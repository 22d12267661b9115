"""The platform console (`/console/...`): agencies with their credit limits and tax switch,
the wholesale card, and the agencies' wholesale invoices. Platform users only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from rebill.domain.errors import BillingError, ConflictError, NotFoundError, ValidationError
from rebill.entrypoints.web.common import PageError, Web, field_messages, send_invitation
from rebill.entrypoints.web.deps import Operator, WebFaces
from rebill.services.access import invitations
from rebill.services.access.invitations import Inviter
from rebill.services.access.users import WebSession
from rebill.services.catalog import wholesale_schedule
from rebill.services.views import operator, panel
from rebill.services.views.forms import plain_number

NAV = (
    ("/console", "Agencies & prices"),
    ("/console/agencies/new", "Add agency"),
    ("/console/invoices", "Agency invoices"),
)
SAVED = {
    "agency": "Agency added.",
    "owner_invited": "Agency added, and its owner invited by e-mail to set a password.",
    "owner_unsent": "Agency added, but the owner's invitation could not be e-mailed (the mail "
    "server refused it); invite them again below.",
    "invited": "Invitation sent: the link in it works once, for 7 days.",
    "invite_unsent": "The invitation could not be e-mailed (the mail server refused it); try "
    "again.",
    "limit": "Credit limit saved.",
    "tax": "Tax mode saved.",
    "wholesale": "Wholesale prices saved.",
    "wholesale_scheduled": "Wholesale change scheduled: it is listed under the prices until it "
    "begins.",
    "wholesale_cancelled": "The scheduled wholesale change was cancelled.",
}
router = APIRouter(prefix="/console", include_in_schema=False)


def page(web: Web, request: Request, session: WebSession, name: str, **context: Any) -> Response:
    return web.staff_page(request, session, name, NAV, SAVED, None, context)


def actor(session: WebSession) -> str:
    return f"{session.user.email} (platform)"


def home_page(web: Web, request: Request, session: WebSession, errors: dict[str, str]) -> Response:
    return page(
        web,
        request,
        session,
        "console/home.html",
        status=422 if errors else 200,
        console=panel.console_view(web.rebill.uow, web.rebill.clock.now()),
        errors=errors,
    )


@router.get("")
def home(request: Request, session: Operator, web: WebFaces) -> Response:
    return home_page(web, request, session, {})


@router.post("/agencies/{agency_id}/credit-limit")
async def post_limit(
    request: Request, agency_id: str, session: Operator, web: WebFaces
) -> Response:
    form = await web.form(request, session)
    rebill = web.rebill
    if form.get("confirm") != "yes":
        try:
            effect = operator.limit_effect(rebill.uow, agency_id, form.get("credit_limit", ""))
        except NotFoundError:
            raise PageError(404, "this agency does not exist") from None
        if effect is not None:
            return page(web, request, session, "console/confirm_limit.html", effect=effect)
    try:
        panel.set_credit_limit(
            rebill.uow,
            agency_id,
            plain_number(form.get("credit_limit", "")),
            actor(session),
            rebill.clock.now(),
        )
    except NotFoundError:
        raise PageError(404, "this agency does not exist") from None
    except BillingError as exc:
        return home_page(web, request, session, {f"limit-{agency_id}": _text(exc)})
    return RedirectResponse("/console?saved=limit", 303)


@router.post("/agencies/{agency_id}/tax")
async def post_tax(request: Request, agency_id: str, session: Operator, web: WebFaces) -> Response:
    form = await web.form(request, session)
    rebill = web.rebill
    try:
        if form.get("confirm") != "yes":
            effect = operator.tax_effect(
                rebill.uow,
                agency_id,
                form.get("mode", ""),
                form.get("rate", ""),
                rebill.clock.now(),
            )
            if effect is not None:
                return page(web, request, session, "console/confirm_tax.html", effect=effect)
        panel.set_tax_mode(
            rebill.uow,
            agency_id,
            form.get("mode", ""),
            form.get("rate", ""),
            actor(session),
            rebill.clock.now(),
        )
    except NotFoundError:
        raise PageError(404, "this agency does not exist") from None
    except BillingError as exc:
        return home_page(web, request, session, {f"tax-{agency_id}": _text(exc)})
    return RedirectResponse("/console?saved=tax", 303)


@router.post("/wholesale")
async def post_wholesale(request: Request, session: Operator, web: WebFaces) -> Response:
    form = await web.form(request, session)
    rebill = web.rebill
    try:
        if form.get("confirm") != "yes":
            effect = operator.wholesale_effect(rebill.uow, form, rebill.clock.now())
            if effect["changed"]:
                hidden = {k: v for k, v in form.items() if k != "confirm"}
                return page(
                    web,
                    request,
                    session,
                    "console/confirm_wholesale.html",
                    effect=effect,
                    hidden=hidden,
                )
        panel.set_wholesale(rebill.uow, form, actor(session), rebill.clock.now())
    except BillingError as exc:
        errors = {"wholesale": _text(exc)}
        if isinstance(exc, ValidationError):
            errors.update(field_messages(exc.field_errors))
        return home_page(web, request, session, errors)
    scheduled = form.get("takes_effect", "now") not in ("", "now")
    return RedirectResponse(f"/console?saved=wholesale{'_scheduled' if scheduled else ''}", 303)


@router.post("/wholesale/scheduled/{period}/cancel")
async def cancel_scheduled_wholesale(
    period: str, request: Request, session: Operator, web: WebFaces
) -> Response:
    """Forget a wholesale change scheduled for a later period (before it begins anywhere)."""
    await web.form(request, session)
    rebill = web.rebill
    try:
        wholesale_schedule.cancel(rebill.uow, period, actor(session), rebill.clock.now())
    except NotFoundError:
        raise PageError(404, "no wholesale change is scheduled for that period") from None
    except BillingError as exc:
        return home_page(web, request, session, {"wholesale": _text(exc)})
    return RedirectResponse("/console?saved=wholesale_cancelled", 303)


def new_agency_page(
    web: Web, request: Request, session: WebSession, values: dict[str, str], errors: dict[str, str]
) -> Response:
    status = 422 if errors else 200
    return page(
        web,
        request,
        session,
        "console/new_agency.html",
        status=status,
        values=values,
        errors=errors,
    )


@router.get("/agencies/new")
def new_agency(request: Request, session: Operator, web: WebFaces) -> Response:
    return new_agency_page(web, request, session, {"timezone": "UTC"}, {})


@router.post("/agencies/new")
async def post_new_agency(request: Request, session: Operator, web: WebFaces) -> Response:
    """Add the agency; with an owner's e-mail, invite its first admin (the address and the
    mail server checked first, so a refusal adds nothing)."""
    form = await web.form(request, session)
    rebill = web.rebill
    owner = form.get("owner_email", "").strip()
    try:
        if owner:
            invitations.check_address(rebill.mailer, owner, "owner_email")
        agency_id = operator.add_agency(rebill.uow, form, actor(session), rebill.clock.now())
    except ValidationError as exc:
        errors = field_messages(exc.field_errors) or {"form": exc.summary}
        return new_agency_page(web, request, session, form, errors)
    except ConflictError as exc:  # no mail server
        return new_agency_page(web, request, session, form, {"owner_email": exc.message})
    if not owner:
        return RedirectResponse(f"/console/agencies/{agency_id}?saved=agency", 303)
    inviter = Inviter(actor(session), "platform", None)
    try:
        sent = await send_invitation(
            rebill, inviter, agency_id, owner, "admin", None, "owner_email"
        )
        saved = "owner_unsent" if sent.error else "owner_invited"
    except BillingError:
        saved = "owner_unsent"
    return RedirectResponse(f"/console/agencies/{agency_id}?saved={saved}", 303)


def agency_view(
    web: Web,
    request: Request,
    session: WebSession,
    agency_id: str,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int | None = None,
) -> Response:
    rebill = web.rebill
    now = rebill.clock.now()
    try:
        view = operator.agency_page(rebill.uow, agency_id, now)
        invited = invitations.list_invitations(rebill.uow, agency_id, now)
    except NotFoundError:
        raise PageError(404, "this agency does not exist") from None
    return page(
        web,
        request,
        session,
        "console/agency.html",
        status=status or (422 if errors else 200),
        agency=view,
        invitations=[i for i in invited if i["role"] != "client"],
        errors=errors or {},
        values=values or {},
    )


@router.get("/agencies/{agency_id}")
def agency(request: Request, agency_id: str, session: Operator, web: WebFaces) -> Response:
    return agency_view(web, request, session, agency_id)


@router.post("/agencies/{agency_id}/invitations")
async def post_owner_invitation(
    request: Request, agency_id: str, session: Operator, web: WebFaces
) -> Response:
    """Invite an admin into the agency (its owner, or a new one)."""
    form = await web.form(request, session)
    rebill = web.rebill
    try:
        sent = await send_invitation(
            rebill,
            Inviter(actor(session), "platform", None),
            agency_id,
            form.get("owner_email", ""),
            "admin",
            None,
            "owner_email",
        )
    except NotFoundError:
        raise PageError(404, "this agency does not exist") from None
    except ValidationError as exc:
        errors = field_messages(exc.field_errors)
        return agency_view(web, request, session, agency_id, errors, form)
    except ConflictError as exc:
        errors = {"owner_email": exc.message}
        return agency_view(web, request, session, agency_id, errors, form, 409)
    saved = "invite_unsent" if sent.error else "invited"
    return RedirectResponse(f"/console/agencies/{agency_id}?saved={saved}", 303)


@router.get("/invoices")
def invoices(request: Request, session: Operator, web: WebFaces) -> Response:
    console = panel.console_view(web.rebill.uow, web.rebill.clock.now())
    return page(web, request, session, "console/invoices.html", console=console)


@router.get("/invoices/{number}.pdf")
def invoice_file(number: str, session: Operator, web: WebFaces) -> Response:
    return web.invoice_pdf(number, None)


def _text(exc: BillingError) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(e.message for e in exc.field_errors) or exc.summary
    return exc.message
