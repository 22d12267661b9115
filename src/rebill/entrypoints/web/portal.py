"""The client portal, in the agency's brand only (never the platform's): chosen by the request's
host when it is an agency's custom domain (`/client/...`) or by path (`/portal/{agency}/...`).
A client sees its own sub-account: usage against included minutes and caps, credits and
buying them, plan upgrade, number rental (all through the agency's checkout), invoices."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
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
from rebill.services.access.users import WebSession, start_session
from rebill.services.invoicing.documents import invoice_pdf
from rebill.services.payments.gateway import agency_public_url, create_checkout
from rebill.services.views import panel

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


def routes(web: Web) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    rebill = web.rebill

    def portal_of(request: Request, agency_id: str | None) -> Portal:
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

    def client(request: Request, portal: Portal) -> WebSession:
        session = web.session(request)
        if session is None or session.user.kind != "client":
            if session is None:
                raise SignInRequired(f"{portal.base}/sign-in", request.url.path)
            raise PageError(404, "this page does not exist", portal.brand)
        if session.user.agency_id != portal.agency_id:
            raise PageError(404, "this page does not exist", portal.brand)
        return session

    def render(portal: Portal, name: str, status: int = 200, **context: Any) -> Response:
        return web.render(name, status=status, brand=portal.brand, base=portal.base, **context)

    def sign_in_form(
        request: Request, portal: Portal, error: str | None, email: str, status: int = 200
    ) -> Response:
        token = sign_in_token(request)
        response = render(
            portal,
            "portal/sign_in.html",
            status=status,
            csrf_token=token,
            error=error,
            email=email,
        )
        set_sign_in_cookie(response, request, token)
        return response

    async def sign_in(request: Request, portal: Portal) -> Response:
        form = await web.form(request, None)
        email = form.get("email", "")
        try:
            user = await web.authenticate(request, email, form.get("password", ""))
        except (TooManyAttemptsError, BusyError) as exc:
            refusal = Refusal.of(exc)
            page = sign_in_form(request, portal, refusal.message, email, refusal.status)
            return refusal.apply(page)
        if user is None or user.kind != "client" or user.agency_id != portal.agency_id:
            return sign_in_form(request, portal, "Wrong e-mail or password.", email, 401)
        token = start_session(rebill.uow, user, rebill.clock.now())
        response = RedirectResponse(f"{portal.base}/", 303)
        set_session_cookie(response, request, token)
        return response

    def home(request: Request, portal: Portal) -> Response:
        session = client(request, portal)
        sub_id = session.user.sub_account_id or ""
        view = panel.sub_account_view(
            rebill.uow, portal.agency_id, sub_id, None, rebill.clock.now()
        )
        return render(
            portal,
            "portal/home.html",
            user=session.user,
            csrf_token=session.csrf_token,
            sub=view,
            chart=chart(view["chart"], view["included_minutes"]),
            number_types=NUMBER_TYPES,
            message=MESSAGES.get(request.query_params.get("done", "")),
        )

    async def checkout(request: Request, portal: Portal) -> Response:
        session = client(request, portal)
        form = await web.form(request, session)
        context = rebill.gateway
        if portal.origin:  # come back to the agency's domain, where the session cookie lives
            context = dataclasses.replace(context, public_url=portal.origin)
        action = form.get("action", "")
        try:
            session_doc = create_checkout(
                rebill.uow,
                context,
                portal.agency_id,
                session.user.sub_account_id or "",
                action,
                form.get("amount") if action == "credits" else None,
                form.get("plan") if action == "upgrade" else None,
                form.get("number_type") if action == "number" else None,
                rebill.clock.now(),
                form.get("invoice") if action == "invoice" else None,
            )
        except (ConflictError, TaxNotConfiguredError) as exc:
            manual = isinstance(exc, ConflictError) and "manual" in exc.message
            return render(
                portal,
                "portal/message.html",
                status=409,
                user=session.user,
                csrf_token=session.csrf_token,
                title="Online payment is not available",
                manual=manual,
                detail=None if manual else exc.message,
            )
        except (ValidationError, NotFoundError) as exc:
            text = exc.message
            if isinstance(exc, ValidationError):
                text = "; ".join(e.message for e in exc.field_errors) or exc.summary
            return render(
                portal,
                "portal/message.html",
                status=422,
                user=session.user,
                csrf_token=session.csrf_token,
                title="Please check the amount",
                manual=False,
                detail=text,
            )
        except BillingError as exc:
            return render(
                portal,
                "portal/message.html",
                status=502,
                user=session.user,
                csrf_token=session.csrf_token,
                title="The payment page could not be opened",
                manual=False,
                detail=exc.message,
            )
        return RedirectResponse(session_doc["url"], 303)

    def invoices(request: Request, portal: Portal) -> Response:
        session = client(request, portal)
        sub_id = session.user.sub_account_id or ""
        view = panel.sub_account_view(
            rebill.uow, portal.agency_id, sub_id, None, rebill.clock.now()
        )
        return render(
            portal,
            "portal/invoices.html",
            user=session.user,
            csrf_token=session.csrf_token,
            sub=view,
        )

    def invoice_file(request: Request, portal: Portal, number: str) -> Response:
        session = client(request, portal)
        try:
            pdf = invoice_pdf(
                rebill.uow,
                rebill.renderer,
                number,
                portal.agency_id,
                session.user.sub_account_id or "",
            )
        except NotFoundError:
            raise PageError(404, "this invoice does not exist", portal.brand) from None
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{number}.pdf"'},
        )

    def logo(portal: Portal) -> Response:
        if not portal.brand.logo_png:
            raise PageError(404, "no logo", portal.brand)
        return Response(
            portal.brand.logo_png,
            media_type=logo_media_type(portal.brand.logo_png),
            headers={"Cache-Control": "max-age=300"},
        )

    def resolve(request: Request) -> Portal:
        return portal_of(request, request.path_params.get("agency_id"))

    def get_sign_in(request: Request) -> Response:
        return sign_in_form(request, resolve(request), None, "")

    async def post_sign_in(request: Request) -> Response:
        return await sign_in(request, resolve(request))

    def get_home(request: Request) -> Response:
        return home(request, resolve(request))

    def get_bare(request: Request) -> Response:
        return RedirectResponse(f"{resolve(request).base}/", 303)

    async def post_checkout(request: Request) -> Response:
        return await checkout(request, resolve(request))

    def get_invoices(request: Request) -> Response:
        return invoices(request, resolve(request))

    def get_invoice_file(request: Request, number: str) -> Response:
        return invoice_file(request, resolve(request), number)

    def get_logo(request: Request) -> Response:
        return logo(resolve(request))

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
    def checkout_done(request: Request) -> Response:
        return _back(request, "paid")

    @router.get("/checkout/cancelled")
    def checkout_cancelled(request: Request) -> Response:
        return _back(request, "cancelled")

    def _back(request: Request, outcome: str) -> Response:
        session = web.session(request)
        if session is None or session.user.kind != "client":
            return web.render("portal/plain.html", message=MESSAGES[outcome])
        host_agency = panel.agency_for_host(
            rebill.uow, request.headers.get("host", ""), rebill.settings.own_hosts()
        )
        if host_agency == session.user.agency_id:
            return RedirectResponse(f"{HOST_BASE}/?done={outcome}", 303)
        return RedirectResponse(
            f"/portal/{quote(session.user.agency_id or '')}/?done={outcome}", 303
        )

    return router
