"""An invitation's link: the page where the invited person chooses their password, in the
inviting agency's brand. Staff's links open on the panel's host (`/invitations/{token}`),
a client's in its portal (`/portal/{agency}/invitations/{token}`, or `/client/invitations/
{token}` on the agency's domain). Opening a link changes nothing (mail scanners open links);
setting the password uses it up, creates the sign-in and signs the person in. A link that is
unknown, expired, used, revoked or replaced answers a page that says so (404 or 410)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from rebill.domain.errors import BusyError, ConflictError, ValidationError
from rebill.domain.invitation import PENDING, ROLE_TEXT
from rebill.entrypoints.web.common import (
    Refusal,
    Web,
    field_messages,
    set_session_cookie,
    set_sign_in_cookie,
    sign_in_token,
)
from rebill.entrypoints.web.deps import WebFaces
from rebill.entrypoints.web.portal import HOST_BASE, AgencyPortal, Portal
from rebill.services.access.invitations import (
    UNKNOWN,
    InvitationClosedError,
    Opened,
    accept_invitation,
    open_invitation,
)
from rebill.services.access.users import start_session

router = APIRouter(include_in_schema=False)
CLOSED_STATUS = {UNKNOWN: 404, "accepted": 410, "expired": 410, "revoked": 410, "replaced": 410}
NO_STORE = {"Cache-Control": "no-store"}


def render(
    web: Web,
    request: Request,
    opened: Opened,
    portal: Portal | None,
    errors: dict[str, str] | None = None,
    status: int | None = None,
    taken: bool = False,
) -> Response:
    """The link's page: the password form while it can be used, else what became of it."""
    token = sign_in_token(request)
    state = UNKNOWN if taken else opened.state
    code = status or (200 if state == PENDING else CLOSED_STATUS.get(state, 410))
    if taken:
        code = 409
    brand = portal.brand if portal else opened.brand
    invitation = opened.invitation
    response = web.render(
        "invitation.html",
        status=code,
        layout="portal/layout.html" if portal else "panel/layout.html",
        base=portal.base if portal else "",
        brand=brand,
        state=state,
        taken=taken,
        invitation=invitation,
        role_text=ROLE_TEXT.get(invitation.role, "") if invitation else "",
        sub_name=opened.sub_account_name,
        sign_in=f"{portal.base}/sign-in" if portal else "/sign-in",
        csrf_token=token,
        errors=errors or {},
    )
    response.headers.update(NO_STORE)
    set_sign_in_cookie(response, request, token)
    return response


async def accept(
    web: Web, request: Request, token: str, opened: Opened, portal: Portal | None, home: str
) -> Response:
    """Set the password from the POSTed form; signed in and sent home when the link worked."""
    form = await web.form(request, None)
    rebill = web.rebill
    try:
        user = await run_in_threadpool(
            accept_invitation,
            rebill.uow,
            rebill.passwords,
            token,
            form.get("password", ""),
            form.get("password_again", ""),
            rebill.clock.now(),
        )
    except InvitationClosedError as exc:
        return render(web, request, Opened(exc.state, opened.invitation, opened.brand), portal)
    except ValidationError as exc:
        errors = field_messages(exc.field_errors)
        return render(web, request, opened, portal, errors, status=422)
    except BusyError as exc:
        refusal = Refusal.of(exc)
        page = render(web, request, opened, portal, {"form": refusal.message}, refusal.status)
        return refusal.apply(page)
    except ConflictError:
        return render(web, request, opened, portal, taken=True)
    session_token = start_session(rebill.uow, user, rebill.clock.now())
    response = RedirectResponse(home, 303)
    set_session_cookie(response, request, session_token)
    return response


def _staff_opened(web: Web, token: str) -> tuple[Opened, str | None]:
    """The link as the panel's host sees it; a client's link is sent on to its portal."""
    opened = open_invitation(web.rebill.uow, token, web.rebill.clock.now())
    invitation = opened.invitation
    if invitation is not None and invitation.for_client:
        return opened, f"/portal/{quote(invitation.agency_id)}/invitations/{quote(token)}"
    return opened, None


@router.get("/invitations/{token}")
def get_staff_invitation(request: Request, token: str, web: WebFaces) -> Response:
    opened, elsewhere = _staff_opened(web, token)
    if elsewhere:
        return RedirectResponse(elsewhere, 303)
    return render(web, request, opened, None)


@router.post("/invitations/{token}")
async def post_staff_invitation(request: Request, token: str, web: WebFaces) -> Response:
    opened, elsewhere = _staff_opened(web, token)
    if elsewhere or opened.state != PENDING:
        return render(web, request, opened if not elsewhere else Opened(UNKNOWN), None)
    return await accept(web, request, token, opened, None, "/panel")


def _client_opened(web: Web, portal: Portal, token: str) -> Opened:
    """The link as this portal sees it: a client's invitation into this portal's agency, or
    nothing (staff's links and other agencies' are unknown here)."""
    opened = open_invitation(web.rebill.uow, token, web.rebill.clock.now())
    invitation = opened.invitation
    if invitation is None or not invitation.for_client or invitation.agency_id != portal.agency_id:
        return Opened(UNKNOWN)
    return opened


def get_client_invitation(
    request: Request, token: str, portal: AgencyPortal, web: WebFaces
) -> Response:
    return render(web, request, _client_opened(web, portal, token), portal)


async def post_client_invitation(
    request: Request, token: str, portal: AgencyPortal, web: WebFaces
) -> Response:
    opened = _client_opened(web, portal, token)
    if opened.state != PENDING:
        return render(web, request, opened, portal)
    return await accept(web, request, token, opened, portal, f"{portal.base}/")


for prefix in ("/portal/{agency_id}", HOST_BASE):
    router.add_api_route(f"{prefix}/invitations/{{token}}", get_client_invitation, methods=["GET"])
    router.add_api_route(
        f"{prefix}/invitations/{{token}}", post_client_invitation, methods=["POST"]
    )
