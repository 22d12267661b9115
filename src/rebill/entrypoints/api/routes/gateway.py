"""The payment gateway's calls back (outside `/v1`, not in the OpenAPI document): Stripe's
webhook events, and the Connect returns of an agency linking its Stripe account. A Connect
`state` works once, in the panel session that started the flow."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from rebill.domain.errors import ConflictError, GatewayError
from rebill.entrypoints import web
from rebill.entrypoints.api import errors
from rebill.entrypoints.api.deps import Rebill
from rebill.services.payments import gateway
from rebill.services.payments.gateway_events import handle_event

router = APIRouter(tags=["gateway"], include_in_schema=False)
State = Annotated[str, Query(max_length=200)]


@router.post("/webhooks/stripe")
async def stripe_webhook(request: Request, rebill: Rebill) -> Response:
    """Connect events from Stripe: signature checked, routed by `account`, replays by
    event id ignored, any order accepted."""
    payload = await request.body()
    context = rebill.gateway
    if context.gateway is None:
        return errors.problem(503, "gateway_not_configured", "Stripe is not configured")
    signature = request.headers.get("stripe-signature")
    try:
        event = context.gateway.verify_webhook(payload, signature)
    except GatewayError as exc:
        return errors.problem(400, exc.gateway_code, exc.message)
    outcome = handle_event(rebill.uow, context, event, rebill.clock.now())
    return JSONResponse({"received": True, "outcome": outcome})


@router.get("/connect/return")
def connect_return(request: Request, state: State, rebill: Rebill) -> Response:
    """Where Stripe sends the agency after onboarding: re-read its account's status, then
    back to the panel's gateway page. The state works once, in the session that made it."""
    session_sha256 = web.connect_session(rebill, request)
    gateway.refresh_link(
        rebill.uow, rebill.gateway, state, rebill.clock.now(), session_sha256=session_sha256
    )
    return RedirectResponse("/panel/gateway?saved=onboarded", status_code=303)


@router.get("/connect/refresh")
def connect_refresh(request: Request, state: State, rebill: Rebill) -> Response:
    """An onboarding link expired or was used: send the agency to a fresh one."""
    session_sha256 = web.connect_session(rebill, request)
    url = gateway.onboarding_link(
        rebill.gateway, rebill.uow, state, rebill.clock.now(), session_sha256=session_sha256
    )
    return RedirectResponse(url, status_code=303)


@router.get("/connect/oauth/callback")
def connect_oauth_callback(
    request: Request,
    state: State,
    rebill: Rebill,
    code: Annotated[str | None, Query(max_length=200)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
    error_description: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Where Stripe returns an agency that connected (or declined to connect) its own
    Standard account; then back to the panel's gateway page."""
    if error or not code:
        raise ConflictError(
            f"Stripe did not connect the account: {error_description or error or 'no code'}"
        )
    gateway.oauth_complete(
        rebill.uow,
        rebill.gateway,
        state,
        code,
        rebill.clock.now(),
        session_sha256=web.connect_session(rebill, request),
    )
    return RedirectResponse("/panel/gateway?saved=connected", status_code=303)
