"""`/panel/users`: the agency's users, and adding one (agency admins only): staff with a role,
or a client tied to one sub-account (who signs in to the portal)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from rebill.domain.errors import BillingError, NotFoundError
from rebill.entrypoints.web.common import PageError, Web
from rebill.entrypoints.web.deps import Staff, WebFaces
from rebill.entrypoints.web.panel.pages import agency_of, error_fields, page
from rebill.services.access.users import WebSession, create_user, list_users
from rebill.services.views.sub_accounts import sub_account_ids

router = APIRouter(prefix="/panel", include_in_schema=False)


def users_page(web: Web, request: Request, session: WebSession, errors: dict[str, str]) -> Response:
    agency_id = agency_of(session)
    subs = sub_account_ids(web.rebill.uow, agency_id)
    return page(
        web,
        request,
        session,
        "panel/users.html",
        status=422 if errors else 200,
        users=list_users(web.rebill.uow, agency_id),
        subs=subs,
        errors=errors,
    )


@router.get("/users")
def users(request: Request, session: Staff, web: WebFaces) -> Response:
    return users_page(web, request, session, {})


@router.post("/users")
async def post_user(request: Request, session: Staff, web: WebFaces) -> Response:
    form = await web.form(request, session)
    if session.user.role != "admin":
        raise PageError(403, "only an agency admin may add users")
    role = form.get("role", "")
    rebill = web.rebill
    try:
        # Off the event loop: the password's hash takes a hashing slot for half a second.
        await run_in_threadpool(
            create_user,
            rebill.uow,
            rebill.passwords,
            form.get("email", ""),
            form.get("password", ""),
            role,
            session.user.agency_id,
            (form.get("sub_account") or None) if role == "client" else None,
            rebill.clock.now(),
        )
    except NotFoundError:
        return users_page(web, request, session, {"sub_account": "no such sub-account"})
    except BillingError as exc:
        return users_page(web, request, session, {"form": exc.message, **error_fields(exc)})
    return RedirectResponse("/panel/users?saved=user", 303)
