"""`/panel/gateway`: the agency's payment gateway and Stripe Tax checklist. The panel offers
the manual gateway and the two Connect flows that prove the agency holds its Stripe account
(onboarding a new one, OAuth for an existing one); linking an account by id is the platform's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from rebill.domain.errors import BillingError, GatewayError
from rebill.domain.gateway import ALL_FIXES
from rebill.entrypoints.web.common import PageError, Web
from rebill.entrypoints.web.deps import Staff, WebFaces
from rebill.entrypoints.web.panel.pages import agency_of, must, page
from rebill.services.access.users import WebSession
from rebill.services.payments.gateway import (
    MANUAL,
    gateway_status,
    link_gateway,
    oauth_url,
    onboard,
)

router = APIRouter(prefix="/panel", include_in_schema=False)
CHECKLIST = (
    "Head office address",
    "Preset product tax code",
    "Default tax behaviour",
    "Tax registration",
)


def checklist(tax: dict[str, Any], configured: bool) -> list[dict[str, Any]]:
    """The four Stripe Tax items, each ok or with its fix."""
    fixes = list(tax.get("fixes") or [])
    linked = configured and "stripe_account" not in (tax.get("missing_fields") or [])
    items = []
    for label, fix in zip(CHECKLIST, ALL_FIXES, strict=True):
        ok = linked and fix not in fixes
        items.append({"label": label, "ok": ok, "fix": None if ok else fix})
    return items


def gateway_page(web: Web, request: Request, session: WebSession, error: str | None) -> Response:
    rebill = web.rebill
    configured = rebill.gateway.gateway is not None
    try:
        status = gateway_status(rebill.uow, rebill.gateway, agency_of(session))
    except GatewayError as exc:
        status = {"provider": None, "account": None, "charges_enabled": False}
        status["tax"] = {"mode": "stripe", "fixes": [], "missing_fields": ["stripe_account"]}
        error = error or exc.message
    tax = status["tax"]
    return page(
        web,
        request,
        session,
        "panel/gateway.html",
        status=422 if error else 200,
        gateway=status,
        configured=configured,
        tax=tax,
        items=checklist(tax, configured),
        error=error,
    )


@router.get("/gateway")
def gateway(request: Request, session: Staff, web: WebFaces) -> Response:
    return gateway_page(web, request, session, None)


@router.post("/gateway")
async def post_gateway(request: Request, session: Staff, web: WebFaces) -> Response:
    """The manual gateway only. A Stripe account is linked through onboarding or OAuth,
    which prove the agency holds it; linking an account by its id is the platform's."""
    form = await web.form(request, session)
    must(session, "settings")
    if form.get("provider", "") != MANUAL or form.get("account", "").strip():
        raise PageError(
            403,
            "a Stripe account is linked by creating one or by connecting your own "
            "(Gateway & tax); linking an account by its id is the platform's to do",
        )
    rebill = web.rebill
    try:
        link_gateway(
            rebill.uow, rebill.gateway, agency_of(session), MANUAL, None, rebill.clock.now()
        )
    except BillingError as exc:
        return gateway_page(web, request, session, exc.message)
    return RedirectResponse("/panel/gateway?saved=gateway", 303)


@router.post("/gateway/onboard")
async def post_onboard(request: Request, session: Staff, web: WebFaces) -> Response:
    """A new Stripe account for the agency, and off to Stripe to finish onboarding."""
    form = await web.form(request, session)
    must(session, "settings")
    rebill = web.rebill
    try:
        started = onboard(
            rebill.uow,
            rebill.gateway,
            agency_of(session),
            form.get("country", "US").strip().upper(),
            session.user.email,
            rebill.clock.now(),
            session_sha256=session.token_sha256,
        )
    except BillingError as exc:
        return gateway_page(web, request, session, exc.message)
    return RedirectResponse(str(started["url"]), 303)


@router.post("/gateway/oauth")
async def post_oauth(request: Request, session: Staff, web: WebFaces) -> Response:
    """Off to Stripe to connect the agency's existing Standard account."""
    await web.form(request, session)
    must(session, "settings")
    rebill = web.rebill
    try:
        url = oauth_url(
            rebill.uow,
            rebill.gateway,
            agency_of(session),
            rebill.clock.now(),
            session_sha256=session.token_sha256,
        )
    except BillingError as exc:
        return gateway_page(web, request, session, exc.message)
    return RedirectResponse(url, 303)
