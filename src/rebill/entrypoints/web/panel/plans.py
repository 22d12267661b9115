"""`/panel/plans`: the agency's plans; a new plan (or a copy of one) and a plan's every field
edited through the catalog's rules (a warning before a price below the wholesale cost), with
the clients a change touches and the plan's economics shown; audited."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from rebill.domain.errors import NotFoundError, ValidationError
from rebill.entrypoints.web.common import PageError, Web, field_messages
from rebill.entrypoints.web.deps import Staff, WebFaces
from rebill.entrypoints.web.panel.pages import actor, agency_of, must, page
from rebill.services.access.users import WebSession
from rebill.services.views import panel as views
from rebill.services.views import plan_form

router = APIRouter(prefix="/panel", include_in_schema=False)


def plan_page(
    web: Web,
    request: Request,
    session: WebSession,
    plan_id: str | None,
    values: dict[str, str] | None,
    errors: dict[str, str],
) -> Response:
    """The plan form: `plan_id`'s (None: a new plan, copied from `?clone=` when given), with
    what was typed and the refusals beside their fields when `values` are given."""
    clone = request.query_params.get("clone") if plan_id is None else None
    try:
        form = plan_form.plan_form(
            web.rebill.uow, agency_of(session), plan_id, clone or None, web.rebill.clock.now()
        )
    except NotFoundError:
        raise PageError(404, "this plan does not exist") from None
    if values is not None:
        form["values"] = {**form["values"], **values}
    return page(
        web,
        request,
        session,
        "panel/plan.html",
        status=422 if errors else 200,
        form=form,
        plan_id=plan_id,
        values=form["values"],
        errors=errors,
    )


@router.get("/plans")
def plans(request: Request, session: Staff, web: WebFaces) -> Response:
    editor = views.plan_editor(web.rebill.uow, agency_of(session), web.rebill.clock.now())
    return page(web, request, session, "panel/plans.html", editor=editor)


@router.get("/plans/new")
def new_plan(request: Request, session: Staff, web: WebFaces) -> Response:
    return plan_page(web, request, session, None, None, {})


@router.post("/plans/new")
async def post_new_plan(request: Request, session: Staff, web: WebFaces) -> Response:
    return await _save(request, None, session, web)


@router.get("/plans/{plan_id}")
def plan(request: Request, plan_id: str, session: Staff, web: WebFaces) -> Response:
    return plan_page(web, request, session, plan_id, None, {})


@router.post("/plans/{plan_id}")
async def post_plan(request: Request, plan_id: str, session: Staff, web: WebFaces) -> Response:
    return await _save(request, plan_id, session, web)


async def _save(request: Request, plan_id: str | None, session: Staff, web: WebFaces) -> Response:
    form = await web.form(request, session)
    must(session, "settings")
    rebill = web.rebill
    try:
        saved = plan_form.save_plan(
            rebill.uow,
            agency_of(session),
            plan_id,
            form,
            form.get("confirm_below_wholesale") == "yes",
            actor(session),
            rebill.clock.now(),
        )
    except NotFoundError:
        raise PageError(404, "this plan does not exist") from None
    except ValidationError as exc:
        errors = field_messages(exc.field_errors) or {"form": exc.summary}
        return plan_page(web, request, session, plan_id, form, errors)
    return RedirectResponse(f"/panel/plans/{saved}?saved=plan", 303)
