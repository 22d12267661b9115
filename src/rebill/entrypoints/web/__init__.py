"""The web faces served beside the API: the agency panel (`/panel`), the platform console
(`/console`), the client portal (`/portal/{agency}` or `/client` on an agency's domain) and
invitations' links (`/invitations/{token}`, and in the portal).
Server-rendered Jinja2 pages with a little vanilla JS from `static/`; no CDN, no build step."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from rebill.bootstrap import App
from rebill.entrypoints.web import auth, console, invitations, panel, portal
from rebill.entrypoints.web.common import SESSION_COOKIE, STATIC, PageError, SignInRequired, Web
from rebill.services.access.users import session_for


def install(api: FastAPI, rebill: App) -> None:
    """Mount the panel, console, portal and their static files into the API's app."""
    web = Web.create(rebill)
    api.state.web = web  # the pages' `WebFaces` dependency
    for router in (auth.router, *panel.ROUTERS, console.router, portal.router, invitations.router):
        api.include_router(router)
    api.mount("/static/web", StaticFiles(directory=STATIC), name="web-static")

    @api.exception_handler(PageError)
    async def on_page_error(request: Request, exc: PageError) -> Response:
        return web.render(
            "error.html",
            status=exc.status,
            message=exc.message,
            brand=exc.brand,
            back=back_link(request.url.path, exc.brand is not None),
        )

    @api.exception_handler(SignInRequired)
    async def on_sign_in(_: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(f"{exc.sign_in_path}?next={quote(exc.next_path)}", 303)


def back_link(path: str, branded: bool) -> str:
    """Where an error page's "Back" leads: the home of the face the page was in (a client
    stays in its agency's portal, staff in the panel), not the platform's front page. A portal
    page leads to its portal's home only when that portal exists (its brand is known)."""
    parts = path.strip("/").split("/")
    if parts[0] == "portal" and len(parts) > 1 and parts[1] and branded:
        return f"/portal/{quote(parts[1])}"
    if parts[0] == "client" and branded:
        return "/client"
    if parts[0] in ("panel", "console"):
        return f"/{parts[0]}"
    return "/"


def connect_session(rebill: App, request: Request) -> str | None:
    """What a Connect return URL (`/connect/...`) is checked against: the session of the
    signed-in agency user who may change settings, by its token's SHA-256; None otherwise
    (then only a state the operator started is accepted)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    session = session_for(rebill.uow, token, rebill.clock.now())
    if session is None or session.user.kind != "agency" or not session.user.may_write("settings"):
        return None
    return session.token_sha256
