"""Sign-in and sign-out for the panel and the console (the portal has its own, in the agency's
brand, in `portal.py`). Refused attempts (throttled, or the server busy hashing) answer the
sign-in page with 429 or 503 and Retry-After."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from rebill.domain.errors import BusyError, TooManyAttemptsError
from rebill.entrypoints.web.common import (
    SESSION_COOKIE,
    Refusal,
    Web,
    set_session_cookie,
    set_sign_in_cookie,
    sign_in_token,
)
from rebill.entrypoints.web.deps import WebFaces
from rebill.services.access.users import (
    AccountDisabledError,
    WebUser,
    end_session,
    start_session,
)
from rebill.services.views.panel import agency_for_host


def home_of(user: WebUser) -> str:
    if user.kind == "platform":
        return "/console"
    if user.kind == "client":
        return f"/portal/{user.agency_id}"
    return "/panel"


def safe_next(path: str | None, fallback: str) -> str:
    """Only a path on this site (never `//host` or a scheme) is followed after sign-in."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return fallback


router = APIRouter(include_in_schema=False)


def on_agency_domain(web: Web, request: Request) -> bool:
    """Whether the request came to an agency's custom domain (its portal lives there)."""
    rebill = web.rebill
    host = request.headers.get("host", "")
    return bool(agency_for_host(rebill.uow, host, rebill.settings.own_hosts()))


@router.get("/")
def root(request: Request, web: WebFaces) -> Response:
    if on_agency_domain(web, request):
        return RedirectResponse("/client/", 303)
    session = web.session(request)
    return RedirectResponse(home_of(session.user) if session else "/sign-in", 303)


@router.get("/sign-in")
def sign_in_page(request: Request, web: WebFaces, next: str | None = None) -> Response:
    if on_agency_domain(web, request):
        return RedirectResponse("/client/sign-in", 303)
    token = sign_in_token(request)
    response = web.render(
        "sign_in.html", csrf_token=token, next=safe_next(next, ""), error=None, email=""
    )
    set_sign_in_cookie(response, request, token)
    return response


def sign_in_form(
    web: Web, request: Request, next_path: str | None, email: str, error: str, status: int
) -> Response:
    token = sign_in_token(request)
    page = web.render(
        "sign_in.html",
        status=status,
        csrf_token=token,
        next=safe_next(next_path, ""),
        error=error,
        email=email,
    )
    set_sign_in_cookie(page, request, token)
    return page


@router.post("/sign-in")
async def sign_in(request: Request, web: WebFaces) -> Response:
    form = await web.form(request, None)
    email = form.get("email", "")
    try:
        user = await web.authenticate(request, email, form.get("password", ""))
    except (TooManyAttemptsError, BusyError) as exc:
        refusal = Refusal.of(exc)
        page = sign_in_form(web, request, form.get("next"), email, refusal.message, refusal.status)
        return refusal.apply(page)
    except AccountDisabledError as exc:
        return sign_in_form(web, request, form.get("next"), email, exc.message, 403)
    if user is None:
        wrong = "Wrong e-mail or password."
        return sign_in_form(web, request, form.get("next"), email, wrong, 401)
    rebill = web.rebill
    token = start_session(rebill.uow, user, rebill.clock.now())
    target = safe_next(form.get("next"), home_of(user))
    if not target.startswith(home_of(user)):
        target = home_of(user)
    response = RedirectResponse(target, 303)
    set_session_cookie(response, request, token)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, web: WebFaces) -> Response:
    session = web.session(request)
    if session is not None:
        await web.form(request, session)
        end_session(web.rebill.uow, request.cookies.get(SESSION_COOKIE, ""))
    target = "/sign-in"
    if session is not None and session.user.kind == "client":
        target = f"/portal/{quote(session.user.agency_id or '')}/sign-in"
    if on_agency_domain(web, request):
        target = "/client/sign-in"
    response = RedirectResponse(target, 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
