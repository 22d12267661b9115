"""The client portal, in the agency's brand only (never the platform's): chosen by the request's
host when it is an agency's custom domain (`/client/...`) or by path (`/portal/{agency}/...`).
A client sees its own sub-account: usage against included minutes and caps, credits and
buying them, plan upgrade, number rental (all through the agency's checkout), invoices."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from rebill.domain.account import Brand
from rebill.domain.errors import (
    BillingError,
    BusyError,
    ConflictError,
    NotFoundError,
    TaxNotConfiguredError,
    TooManyAttemptsError,
    ValidationError,
)
from rebill.domain.limits import credit_purchase_max_units, credit_purchase_min_units
from rebill.domain.logo import media_type as logo_media_type
from rebill.domain.plan import NUMBER_TYPES
from rebill.entrypoints.web.common import (
    PageError,
    Refusal,
    SignInRequired,
    Web,
    chart,
    set_session_cookie,
    set_sign_in_cookie,
    sign_in_token,
)
from rebill.entrypoints.web.deps import WebFaces
from rebill.services.access.users import AccountDisabledError, WebSession, start_session
from rebill.services.invoicing.documents import invoice_pdf
from rebill.services.payments.gateway import agency_public_url, create_checkout
from rebill.services.views import notices, panel
from rebill.services.views.client_home import client_summary

HOST_BASE = "/client"
MESSAGES = {
    "paid": "Thank you: your payment went through. Your balance updates as soon as the "
    "payment is confirmed.",
    "cancelled": "The payment was cancelled; nothing was charged.",
}


@dataclasses.dataclass(frozen=True)
class Portal:
    agency_id: str
    base: str  # /client on the agency's domain, /portal/{agency} otherwise
    brand: Brand
    # When reached on the agency's domain: that domain as stored, with the scheme and port of
    # REBILL_PUBLIC_URL (checkout returns there); never the request's Host header.
    origin: str | None


router = APIRouter(include_in_schema=False)


def portal_of(web: Web, request: Request, agency_id: str | None) -> Portal:
    rebill = web.rebill
    host = request.headers.get("host", "")
    by_host = panel.agency_for_host(rebill.uow, host, rebill.settings.own_hosts())
    if agency_id is None:  # /client/...: the host decides
        if by_host is None:
            raise PageError(404, "this page does not exist")
        brand = panel.brand_of(rebill.uow, by_host)
        assert brand.domain, "the host matched the agency's stored domain"
        origin = agency_public_url(rebill.gateway.public_url, brand.domain)
        return Portal(by_host, HOST_BASE, brand, origin)
    if by_host is not None and by_host != agency_id:
        raise PageError(404, "this page does not exist")
    try:
        brand = panel.brand_of(rebill.uow, agency_id)
    except NotFoundError:
        raise PageError(404, "this page does not exist") from None
    return Portal(agency_id, f"/portal/{quote(agency_id)}", brand, None)


def resolve(request: Request, web: WebFaces) -> Portal:
    """The portal of the request: by its path's agency, or on `/client/...` by its host."""
    return portal_of(web, request, request.path_params.get("agency_id"))


AgencyPortal = Annotated[Portal, Depends(resolve)]


def client(request: Request, portal: AgencyPortal, web: WebFaces) -> WebSession:
    """The signed-in client of this portal's agency (any other user: 404)."""
    session = web.session(request)
    if session is None or session.user.kind != "client":
        if session is None:
            raise SignInRequired(f"{portal.base}/sign-in", request.url.path)
        raise PageError(404, "this page does not exist", portal.brand)
    if session.user.agency_id != portal.agency_id:
        raise PageError(404, "this page does not exist", portal.brand)
    return session


Client = Annotated[WebSession, Depends(client)]


def render(web: Web, portal: Portal, name: str, status: int = 200, **context: Any) -> Response:
    return web.render(name, status=status, brand=portal.brand, base=portal.base, **context)


def sign_in_form(
    web: Web, request: Request, portal: Portal, error: str | None, email: str, status: int = 200
) -> Response:
    token = sign_in_token(request)
    response = render(
        web,
        portal,
        "portal/sign_in.html",
        status=status,
        csrf_token=token,
        error=error,
        email=email,
    )
    set_sign_in_cookie(response, request, token)
    return response


def get_sign_in(request: Request, portal: AgencyPortal, web: WebFaces) -> Response:
    return sign_in_form(web, request, portal, None, "")


async def post_sign_in(request: Request, portal: AgencyPortal, web: WebFaces) -> Response:
    form = await web.form(request, None)
    email = form.get("email", "")
    try:
        user = await web.authenticate(request, email, form.get("password", ""))
    except (TooManyAttemptsError, BusyError) as exc:
        refusal = Refusal.of(exc)
        page = sign_in_form(web, request, portal, refusal.message, email, refusal.status)
        return refusal.apply(page)
    except AccountDisabledError as exc:
        return sign_in_form(web, request, portal, exc.message, email, 403)
    if user is None or user.kind != "client" or user.agency_id != portal.agency_id:
        return sign_in_form(web, request, portal, "Wrong e-mail or password.", email, 401)
    token = start_session(web.rebill.uow, user, web.rebill.clock.now())
    response = RedirectResponse(f"{portal.base}/", 303)
    set_session_cookie(response, request, token)
    return response


def home_page(
    web: Web,
    request: Request,
    portal: Portal,
    session: WebSession,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """The client's home; after a refused purchase, the error beside its field and what was
    typed kept."""
    rebill = web.rebill
    sub_id = session.user.sub_account_id or ""
    now = rebill.clock.now()
    view = panel.sub_account_view(rebill.uow, portal.agency_id, sub_id, None, now)
    return render(
        web,
        portal,
        "portal/home.html",
        status=422 if errors else 200,
        user=session.user,
        csrf_token=session.csrf_token,
        sub=view,
        summary=client_summary(rebill.uow, portal.agency_id, sub_id, now),
        refused=notices.calls_refused(rebill.uow, portal.agency_id),
        chart=chart(view["chart"], view["included_minutes"]),
        number_types=NUMBER_TYPES,
        message=MESSAGES.get(request.query_params.get("done", "")),
        errors=errors or {},
        values=values or {"amount": "20.00"},
        purchase_range=(credit_purchase_min_units, f"{credit_purchase_max_units:,}"),
    )


def get_home(request: Request, portal: AgencyPortal, session: Client, web: WebFaces) -> Response:
    return home_page(web, request, portal, session)


def get_bare(portal: AgencyPortal) -> Response:
    return RedirectResponse(f"{portal.base}/", 303)


async def post_checkout(
    request: Request, portal: AgencyPortal, session: Client, web: WebFaces
) -> Response:
    """Off to the agency's checkout: credits, a plan upgrade, a number, or an open invoice."""
    form = await web.form(request, session)
    context = web.rebill.gateway
    if portal.origin:  # come back to the agency's domain, where the session cookie lives
        context = dataclasses.replace(context, public_url=portal.origin)
    action = form.get("action", "")
    try:
        session_doc = create_checkout(
            web.rebill.uow,
            context,
            portal.agency_id,
            session.user.sub_account_id or "",
            action,
            form.get("amount") if action == "credits" else None,
            form.get("plan") if action == "upgrade" else None,
            form.get("number_type") if action == "number" else None,
            web.rebill.clock.now(),
            form.get("invoice") if action == "invoice" else None,
        )
    except ValidationError as exc:
        if action != "credits":
            return checkout_refused(web, portal, session, exc)
        text = "; ".join(e.message for e in exc.field_errors) or exc.summary
        return home_page(web, request, portal, session, {"amount": text}, form)
    except TaxNotConfiguredError as exc:
        rebill = web.rebill
        notices.record_tax_refusal(
            rebill.uow, portal.agency_id, session.user.sub_account_id or "", exc, rebill.clock.now()
        )
        return checkout_refused(web, portal, session, exc)
    except BillingError as exc:
        return checkout_refused(web, portal, session, exc)
    return RedirectResponse(session_doc["url"], 303)


def checkout_refused(web: Web, portal: Portal, session: WebSession, exc: BillingError) -> Response:
    """Why the checkout could not open: not offered online (409), the input (422), or the
    gateway failed (502)."""
    manual = False
    detail: str | None
    if isinstance(exc, TaxNotConfiguredError):  # the agency's setup: never shown to a client
        status, title = 409, "Online payment is not available right now"
        detail = (
            f"{portal.brand.display_name} is finishing the setup of its online payments and "
            "has been told. Nothing was charged. Please try again later or contact them."
        )
    elif isinstance(exc, ConflictError):
        manual = "manual" in exc.message
        status, title = 409, "Online payment is not available"
        detail = None if manual else exc.message
    elif isinstance(exc, ValidationError | NotFoundError):
        status, title, detail = 422, "Please check the amount", exc.message
        if isinstance(exc, ValidationError):
            detail = "; ".join(e.message for e in exc.field_errors) or exc.summary
    else:
        status, title, detail = 502, "The payment page could not be opened", exc.message
    return render(
        web,
        portal,
        "portal/message.html",
        status=status,
        user=session.user,
        csrf_token=session.csrf_token,
        title=title,
        manual=manual,
        detail=detail,
    )


def get_invoices(portal: AgencyPortal, session: Client, web: WebFaces) -> Response:
    rebill = web.rebill
    sub_id = session.user.sub_account_id or ""
    view = panel.sub_account_view(rebill.uow, portal.agency_id, sub_id, None, rebill.clock.now())
    return render(
        web,
        portal,
        "portal/invoices.html",
        user=session.user,
        csrf_token=session.csrf_token,
        sub=view,
    )


def get_invoice_file(number: str, portal: AgencyPortal, session: Client, web: WebFaces) -> Response:
    rebill = web.rebill
    try:
        pdf = invoice_pdf(
            rebill.uow,
            rebill.renderer,
            number,
            portal.agency_id,
            session.user.sub_account_id or "",
            public_url=rebill.gateway.public_url,
        )
    except NotFoundError:
        raise PageError(404, "this invoice does not exist", portal.brand) from None
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{number}.pdf"'},
    )


def get_logo(portal: AgencyPortal) -> Response:
    if not portal.brand.logo_png:
        raise PageError(404, "no logo", portal.brand)
    return Response(
        portal.brand.logo_png,
        media_type=logo_media_type(portal.brand.logo_png),
        headers={"Cache-Control": "max-age=300"},
    )


# The same pages under both prefixes.
for prefix in ("/portal/{agency_id}", HOST_BASE):
    router.add_api_route(f"{prefix}/sign-in", get_sign_in, methods=["GET"])
    router.add_api_route(f"{prefix}/sign-in", post_sign_in, methods=["POST"])
    router.add_api_route(f"{prefix}/", get_home, methods=["GET"])
    router.add_api_route(prefix, get_bare, methods=["GET"])
    router.add_api_route(f"{prefix}/checkout", post_checkout, methods=["POST"])
    router.add_api_route(f"{prefix}/invoices", get_invoices, methods=["GET"])
    router.add_api_route(f"{prefix}/invoices/{{number}}.pdf", get_invoice_file, methods=["GET"])
    router.add_api_route(f"{prefix}/logo.png", get_logo, methods=["GET"])


@router.get("/checkout/done")
def checkout_done(request: Request, web: WebFaces) -> Response:
    return _back(web, request, "paid")


@router.get("/checkout/cancelled")
def checkout_cancelled(request: Request, web: WebFaces) -> Response:
    return _back(web, request, "cancelled")


def _back(web: Web, request: Request, outcome: str) -> Response:
    session = web.session(request)
    if session is None or session.user.kind != "client":
        return web.render("portal/plain.html", message=MESSAGES[outcome])
    host_agency = panel.agency_for_host(
        web.rebill.uow, request.headers.get("host", ""), web.rebill.settings.own_hosts()
    )
    if host_agency == session.user.agency_id:
        return RedirectResponse(f"{HOST_BASE}/?done={outcome}", 303)
    return RedirectResponse(f"/portal/{quote(session.user.agency_id or '')}/?done={outcome}", 303)
