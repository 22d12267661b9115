"""What every page of the web faces shares: the templates, the session cookie, the CSRF check
on every form POST, sign-in and its refusals (429 or 503 with Retry-After), the page errors,
and the usage chart drawn as inline SVG."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from rebill.bootstrap import App
from rebill.domain.account import Brand
from rebill.domain.contrast import readable
from rebill.domain.errors import BusyError, FieldError, NotFoundError, TooManyAttemptsError
from rebill.entrypoints.web import figures
from rebill.services.access import invitations
from rebill.services.access.invitations import Inviter, Sent
from rebill.services.access.users import WebSession, WebUser, authenticate, session_for
from rebill.services.invoicing.documents import invoice_pdf

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
SESSION_COOKIE = "rebill_session"
SIGN_IN_COOKIE = "rebill_sign_in"  # the CSRF token of a sign-in form (double submit)
form_fields_max = 50
chart_width, chart_height = 620, 180
PAGE_BACKGROUND = "#f5f7fa"  # app.css --bg: the lightest-but-one surface brand text sits on
DEFAULT_BRAND = "#334155"


def brand_colour(colour: str | None) -> str:
    """The brand colour as rendered: the agency's (unchanged in storage) darkened until it
    reaches WCAG AA 4.5:1 as text on the page background, which also makes white text on it
    readable (header, buttons, the current tab). Issue #15."""
    try:
        return readable(colour or DEFAULT_BRAND, PAGE_BACKGROUND)
    except ValueError:
        return DEFAULT_BRAND


class PageError(Exception):
    """An HTML error page (404 for anything out of the caller's reach)."""

    def __init__(self, status: int, message: str, brand: Brand | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.brand = brand


class SignInRequired(Exception):
    def __init__(self, sign_in_path: str, next_path: str) -> None:
        super().__init__(sign_in_path)
        self.sign_in_path = sign_in_path
        self.next_path = next_path


@dataclass
class Web:
    rebill: App
    env: Environment

    @classmethod
    def create(cls, rebill: App) -> Web:
        env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html", "svg"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters["money"] = figures.money
        env.filters["quantity"] = figures.quantity
        env.filters["brand_colour"] = brand_colour
        return cls(rebill, env)

    def render(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def staff_page(
        self,
        request: Request,
        session: WebSession,
        name: str,
        nav: tuple[tuple[str, str], ...],
        saved: dict[str, str],
        brand: Brand | None,
        context: dict[str, Any],
    ) -> HTMLResponse:
        """The template `name` in the staff layout (the console's or an agency's panel): the
        navigation, the brand, the notice of what was just saved; `status` in the context is
        the answer's."""
        status = int(context.pop("status", 200))
        return self.render(
            name,
            status=status,
            user=session.user,
            csrf_token=session.csrf_token,
            nav=nav,
            path=request.url.path,
            brand=brand,
            saved=saved.get(request.query_params.get("saved", "")),
            **context,
        )

    def invoice_pdf(self, number: str, agency_id: str | None) -> Response:
        """Invoice `number`'s PDF as a download (seen from `agency_id` when given)."""
        try:
            rebill = self.rebill
            pdf = invoice_pdf(
                rebill.uow, rebill.renderer, number, agency_id, public_url=rebill.gateway.public_url
            )
        except NotFoundError:
            raise PageError(404, "this invoice does not exist") from None
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{number}.pdf"'},
        )

    def session(self, request: Request) -> WebSession | None:
        token = request.cookies.get(SESSION_COOKIE, "")
        return session_for(self.rebill.uow, token, self.rebill.clock.now())

    async def authenticate(self, request: Request, email: str, password: str) -> WebUser | None:
        """The user signing in, or None; TooManyAttemptsError or BusyError when refused (see
        `Refusal`). Off the event loop: a check takes a hashing slot for half a second."""
        rebill = self.rebill
        address = request.client.host if request.client else ""
        return await run_in_threadpool(
            authenticate,
            rebill.uow,
            rebill.passwords,
            email,
            password,
            address,
            rebill.clock.now(),
        )

    async def form(self, request: Request, session: WebSession | None) -> dict[str, str]:
        """The POSTed form, refused (403) unless it carries the session's CSRF token (or,
        signed out, the sign-in cookie's)."""
        data = await request.form()
        if len(data) > form_fields_max:
            raise PageError(400, "too many form fields")
        fields = {k: v for k, v in data.items() if isinstance(v, str)}
        expected = session.csrf_token if session else request.cookies.get(SIGN_IN_COOKIE, "")
        given = fields.pop("csrf_token", "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise PageError(403, "this form has expired or did not come from this site; reload it")
        return fields


SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'"
    ),
}


@dataclass(frozen=True)
class Refusal:
    """A sign-in refused before its password was checked: the page's status, message and
    Retry-After."""

    status: int
    message: str
    retry_after_seconds: int

    @classmethod
    def of(cls, error: TooManyAttemptsError | BusyError) -> Refusal:
        seconds = error.retry_after_seconds
        if isinstance(error, TooManyAttemptsError):
            text = f"Too many sign-in attempts. Please wait {_wait_text(seconds)} and try again."
            return cls(429, text, seconds)
        return cls(503, "The server is busy. Please try again in a moment.", seconds)

    def apply(self, response: Response) -> Response:
        response.headers["Retry-After"] = str(self.retry_after_seconds)
        return response


def _wait_text(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def is_https(request: Request) -> bool:
    """Cookies are Secure on https, and always when the platform says it runs behind TLS
    (REBILL_FORCE_HTTPS: a proxy may speak plain http to rebill)."""
    return request.url.scheme == "https" or bool(getattr(request.app.state, "force_https", False))


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )


def sign_in_token(request: Request) -> str:
    return request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(32)


def set_sign_in_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SIGN_IN_COOKIE, token, httponly=True, samesite="lax", secure=is_https(request), path="/"
    )


async def send_invitation(
    rebill: App,
    inviter: Inviter,
    agency_id: str,
    email: str,
    role: str,
    sub_account_id: str | None,
    email_field: str = "email",
) -> Sent:
    """`invitations.invite` on the app's store, mailer, public URL and clock, off the event
    loop (the console's owner, the panel's staff and clients)."""
    return await run_in_threadpool(
        invitations.invite,
        rebill.uow,
        rebill.mailer,
        rebill.gateway.public_url,
        inviter,
        agency_id,
        email,
        role,
        sub_account_id,
        rebill.clock.now(),
        email_field,
    )


def field_messages(errors: list[FieldError]) -> dict[str, str]:
    return {(e.field or e.location): e.message for e in errors}


def chart(days: list[tuple[int, int]], included_minutes: int | None = None) -> dict[str, Any]:
    """Bars of daily minutes, scaled to the chart; a dashed line for the daily share of the
    included minutes when the plan has some."""
    minutes = [(day, seconds / 60) for day, seconds in days]
    top = max([m for _, m in minutes] + [1.0])
    daily_included = included_minutes / len(days) if included_minutes and days else None
    if daily_included:
        top = max(top, daily_included)
    plot_height = chart_height - 24
    width = chart_width / max(len(days), 1)
    bars = []
    for index, (day, value) in enumerate(minutes):
        height = plot_height * value / top
        bars.append(
            {
                "day": day,
                "minutes": f"{value:.1f}",
                "x": round(index * width + 1, 2),
                "y": round(plot_height - height, 2),
                "width": round(max(width - 2, 1), 2),
                "height": round(height, 2),
            }
        )
    line = round(plot_height - plot_height * daily_included / top, 2) if daily_included else None
    return {
        "bars": bars,
        "width": chart_width,
        "height": chart_height,
        "plot_height": plot_height,
        "top": f"{top:.0f}",
        "included_line": line,
        "daily_included": f"{daily_included:.1f}" if daily_included else None,
        "total": f"{sum(m for _, m in minutes):.1f}",
    }
