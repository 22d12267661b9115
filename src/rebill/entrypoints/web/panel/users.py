"""`/panel/users`: the agency's users and its invitations with their state; an agency admin
invites staff with a role (the least privileged offered first) or a client's contact, sends an
invitation again (a new link, the old one dead) or revokes a pending one; changes a staff
member's role, and disables (after a confirmation: their sessions end at once) or enables
anyone (`services/access/people.py` holds the walls). Nobody sets another person's password:
the invited person chooses theirs through the e-mailed link."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from rebill.domain.errors import (
    ConflictError,
    ForbiddenFieldError,
    NotFoundError,
    ValidationError,
)
from rebill.domain.invitation import CLIENT, ROLE_TEXT, grantable
from rebill.entrypoints.web.common import PageError, Web, field_messages, send_invitation
from rebill.entrypoints.web.deps import Staff, WebFaces
from rebill.entrypoints.web.panel.pages import actor, agency_of, page
from rebill.services.access import invitations, people
from rebill.services.access.invitations import Inviter, LimitReachedError, Sent
from rebill.services.access.people import Changed
from rebill.services.access.users import WebSession, list_users
from rebill.services.views.sub_accounts import sub_account_ids

router = APIRouter(prefix="/panel", include_in_schema=False)


def inviter_of(session: WebSession) -> Inviter:
    return Inviter(actor(session), session.user.role, session.user.agency_id)


def users_page(
    web: Web,
    request: Request,
    session: WebSession,
    errors: dict[str, str],
    values: dict[str, str] | None = None,
    status: int | None = None,
    row_errors: dict[str, str] | None = None,
) -> Response:
    """The users and invitations; after a refused invitation, the errors beside their fields
    and what was typed kept; after a refused change to a user, its error beside their row."""
    agency_id = agency_of(session)
    rebill = web.rebill
    roles = grantable(session.user.role) if session.user.role == "admin" else ()
    return page(
        web,
        request,
        session,
        "panel/users.html",
        status=status or (422 if errors else 200),
        users=list_users(rebill.uow, agency_id),
        invitations=invitations.list_invitations(rebill.uow, agency_id, rebill.clock.now()),
        subs=sub_account_ids(rebill.uow, agency_id),
        roles=[(r, ROLE_TEXT[r]) for r in roles],
        staff_roles=[r for r in roles if r != CLIENT],
        row_errors=row_errors or {},
        errors=errors,
        values=values or {"role": roles[0] if roles else ""},
    )


@router.get("/users")
def users(request: Request, session: Staff, web: WebFaces) -> Response:
    return users_page(web, request, session, {})


def _admin(session: WebSession) -> None:
    """Staff and their invitations are the agency admin's (403 for any other role)."""
    if session.user.role != "admin":
        raise PageError(403, "only an agency admin manages users and invitations")


@router.post("/invitations")
async def post_invitation(request: Request, session: Staff, web: WebFaces) -> Response:
    form = await web.form(request, session)
    _admin(session)
    rebill = web.rebill
    role = form.get("role", "")
    try:
        sent = await send_invitation(
            rebill,
            inviter_of(session),
            agency_of(session),
            form.get("email", ""),
            role,
            form.get("sub_account") or None,
        )
    except NotFoundError:
        raise PageError(404, "this agency does not exist") from None
    except ForbiddenFieldError as exc:
        raise PageError(403, exc.message.split(": ", 1)[-1]) from None
    except ValidationError as exc:
        return users_page(web, request, session, field_messages(exc.field_errors), form)
    except LimitReachedError as exc:
        return users_page(web, request, session, {"form": exc.message}, form, 429)
    except ConflictError as exc:
        return users_page(web, request, session, {"form": exc.message}, form, 409)
    return _after_send(sent)


@router.post("/invitations/{invitation_id}/resend")
async def post_resend(
    request: Request, invitation_id: str, session: Staff, web: WebFaces
) -> Response:
    await web.form(request, session)
    _admin(session)
    rebill = web.rebill
    try:
        sent = await run_in_threadpool(
            invitations.resend,
            rebill.uow,
            rebill.mailer,
            rebill.gateway.public_url,
            inviter_of(session),
            agency_of(session),
            invitation_id,
            rebill.clock.now(),
        )
    except NotFoundError:
        raise PageError(404, "this invitation does not exist") from None
    except ForbiddenFieldError as exc:
        raise PageError(403, exc.message.split(": ", 1)[-1]) from None
    except LimitReachedError as exc:
        return users_page(web, request, session, {"list": exc.message}, status=429)
    except ConflictError as exc:
        return users_page(web, request, session, {"list": exc.message}, status=409)
    return _after_send(sent)


@router.post("/invitations/{invitation_id}/revoke")
async def post_revoke(
    request: Request, invitation_id: str, session: Staff, web: WebFaces
) -> Response:
    await web.form(request, session)
    _admin(session)
    rebill = web.rebill
    try:
        invitations.revoke(
            rebill.uow, inviter_of(session), agency_of(session), invitation_id, rebill.clock.now()
        )
    except NotFoundError:
        raise PageError(404, "this invitation does not exist") from None
    except ForbiddenFieldError as exc:
        raise PageError(403, exc.message.split(": ", 1)[-1]) from None
    except ConflictError as exc:
        return users_page(web, request, session, {"list": exc.message}, status=409)
    return RedirectResponse("/panel/users?saved=revoked", 303)


def _after_send(sent: Sent) -> Response:
    if sent.error:
        return RedirectResponse("/panel/users?saved=unsent", 303)
    return RedirectResponse("/panel/users?saved=invited", 303)


# -- people: roles and access -------------------------------------------------------------


def _refused_change(
    web: Web, request: Request, session: WebSession, user_id: str, exc: Exception
) -> Response:
    """A refused role change or disabling: 404 for a user not of this agency, 403 for a role
    that may not do it, else the users page with the reason beside the user's row."""
    if isinstance(exc, NotFoundError):
        raise PageError(404, "this user does not exist") from None
    if isinstance(exc, ForbiddenFieldError):
        raise PageError(403, exc.message.split(": ", 1)[-1]) from None
    if isinstance(exc, ValidationError):
        text = "; ".join(e.message for e in exc.field_errors) or exc.summary
        return users_page(web, request, session, {}, status=422, row_errors={user_id: text})
    assert isinstance(exc, ConflictError)
    return users_page(web, request, session, {}, status=409, row_errors={user_id: exc.message})


def _after_change(changed: Changed, what: str) -> Response:
    return RedirectResponse(f"/panel/users?saved={what if changed.changed else 'unchanged'}", 303)


@router.post("/users/{user_id}/role")
async def post_role(request: Request, user_id: str, session: Staff, web: WebFaces) -> Response:
    form = await web.form(request, session)
    _admin(session)
    rebill = web.rebill
    try:
        changed = await run_in_threadpool(
            people.set_role,
            rebill.uow,
            inviter_of(session),
            agency_of(session),
            user_id,
            form.get("role", ""),
            rebill.clock.now(),
        )
    except (NotFoundError, ForbiddenFieldError, ValidationError, ConflictError) as exc:
        return _refused_change(web, request, session, user_id, exc)
    return _after_change(changed, "role")


@router.post("/users/{user_id}/disable")
async def post_disable(request: Request, user_id: str, session: Staff, web: WebFaces) -> Response:
    form = await web.form(request, session)
    _admin(session)
    rebill = web.rebill
    if form.get("confirm") != "yes":
        found = next(
            (u for u in list_users(rebill.uow, agency_of(session)) if u["id"] == user_id), None
        )
        if found is None:
            raise PageError(404, "this user does not exist")
        return page(
            web,
            request,
            session,
            "panel/confirm_user.html",
            person=found,
            self_=found["id"] == session.user.id,
        )
    return _set_access(web, request, session, user_id, disabled=True)


@router.post("/users/{user_id}/enable")
async def post_enable(request: Request, user_id: str, session: Staff, web: WebFaces) -> Response:
    await web.form(request, session)
    _admin(session)
    return _set_access(web, request, session, user_id, disabled=False)


def _set_access(
    web: Web, request: Request, session: WebSession, user_id: str, disabled: bool
) -> Response:
    """Disable or enable a user (the admin's own agency; never its last active admin)."""
    rebill = web.rebill
    try:
        changed = people.set_disabled(
            rebill.uow,
            inviter_of(session),
            agency_of(session),
            user_id,
            disabled,
            rebill.clock.now(),
        )
    except (NotFoundError, ForbiddenFieldError, ValidationError, ConflictError) as exc:
        return _refused_change(web, request, session, user_id, exc)
    return _after_change(changed, "disabled" if disabled else "enabled")
