"""The platform console (`/console/...`): agencies with their credit limits and tax switch,
the wholesale card, and the agencies' wholesale invoices. Platform users only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from rebill.domain.errors import BillingError, NotFoundError, ValidationError
from rebill.entrypoints.web.common import PageError, SignInRequired, Web, field_messages
from rebill.services.access.users import WebSession
from rebill.services.invoicing.documents import invoice_pdf
from rebill.services.views import panel

NAV = (("/console", "Agencies & prices"), ("/console/invoices", "Agency invoices"))
SAVED = {
    "limit": "Credit limit saved.",
    "tax": "Tax mode saved.",
    "wholesale": "Wholesale prices saved.",
}


def routes(web: Web) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    rebill = web.rebill

    def operator(request: Request) -> WebSession:
        session = web.session(request)
        if session is None:
            raise SignInRequired("/sign-in", request.url.path)
        if session.user.kind != "platform":
            raise PageError(404, "this page does not exist")
        return session

    def page(request: Request, session: WebSession, name: str, **context: Any) -> Response:
        status = int(context.pop("status", 200))
        return web.render(
            name,
            status=status,
            user=session.user,
            csrf_token=session.csrf_token,
            nav=NAV,
            path=request.url.path,
            brand=None,
            saved=SAVED.get(request.query_params.get("saved", "")),
            **context,
        )

    def actor(session: WebSession) -> str:
        return f"{session.user.email} (platform)"

    def home_page(request: Request, session: WebSession, errors: dict[str, str]) -> Response:
        return page(
            request,
            session,
            "console/home.html",
            status=422 if errors else 200,
            console=panel.console_view(rebill.uow),
            errors=errors,
        )

    @router.get("")
    def home(request: Request) -> Response:
        return home_page(request, operator(request), {})

    @router.post("/agencies/{agency_id}/credit-limit")
    async def post_limit(request: Request, agency_id: str) -> Response:
        session = operator(request)
        form = await web.form(request, session)
        try:
            panel.set_credit_limit(
                rebill.uow, agency_id, form.get("credit_limit", ""), actor(session), _now(web)
            )
        except NotFoundError:
            raise PageError(404, "this agency does not exist") from None
        except BillingError as exc:
            return home_page(request, session, {f"limit-{agency_id}": _text(exc)})
        return RedirectResponse("/console?saved=limit", 303)

    @router.post("/agencies/{agency_id}/tax")
    async def post_tax(request: Request, agency_id: str) -> Response:
        session = operator(request)
        form = await web.form(request, session)
        try:
            panel.set_tax_mode(
                rebill.uow,
                agency_id,
                form.get("mode", ""),
                form.get("rate", ""),
                actor(session),
                _now(web),
            )
        except NotFoundError:
            raise PageError(404, "this agency does not exist") from None
        except BillingError as exc:
            return home_page(request, session, {f"tax-{agency_id}": _text(exc)})
        return RedirectResponse("/console?saved=tax", 303)

    @router.post("/wholesale")
    async def post_wholesale(request: Request) -> Response:
        session = operator(request)
        form = await web.form(request, session)
        try:
            panel.set_wholesale(rebill.uow, form, actor(session), _now(web))
        except BillingError as exc:
            errors = {"wholesale": _text(exc)}
            if isinstance(exc, ValidationError):
                errors.update(field_messages(exc.field_errors))
            return home_page(request, session, errors)
        return RedirectResponse("/console?saved=wholesale", 303)

    @router.get("/invoices")
    def invoices(request: Request) -> Response:
        session = operator(request)
        return page(
            request, session, "console/invoices.html", console=panel.console_view(rebill.uow)
        )

    @router.get("/invoices/{number}.pdf")
    def invoice_file(request: Request, number: str) -> Response:
        operator(request)
        try:
            pdf = invoice_pdf(rebill.uow, rebill.renderer, number)
        except NotFoundError:
            raise PageError(404, "this invoice does not exist") from None
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{number}.pdf"'},
        )

    return router


def _now(web: Web) -> Any:
    return web.rebill.clock.now()


def _text(exc: BillingError) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(e.message for e in exc.field_errors) or exc.summary
    return exc.message
