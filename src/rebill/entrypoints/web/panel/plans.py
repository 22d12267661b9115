"""`/panel/plans`: the agency's plans and their prices, edited (with a warning before a price
below the wholesale cost) through the catalog's rules and audited."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from rebill.domain.errors import NotFoundError, ValidationError
from rebill.entrypoints.web.common import PageError, Web, field_messages
from rebill.entrypoints.web.deps import Staff, WebFaces
from rebill.entrypoints.web.panel.pages import actor, agency_of, must, page
from rebill.services.access.users import WebSession
from rebill.services.views import panel as views

router = APIRouter(prefix="/panel", include_in_schema=False)


def plan_page(
    web: Web,
    request: Request,
    session: WebSession,
    plan_id: str,
    values: dict[str, str] | None,
    errors: dict[str, str],
) -> Response:
    try:
        editor = views.plan_editor(web.rebill.uow, agency_of(session), plan_id)
    except NotFoundError:
        raise PageError(404, "this plan does not exist") from None
    plan = editor["plan"]
    shown = values or {
        "name": plan["name"],
        "monthly_fee": plan["monthly_fee"],
        "included_minutes": str(plan["included_minutes"]),
        "rate_outbound": plan["voice"]["outbound"],
        "rate_inbound": plan["voice"]["inbound"],
        "number_local": plan["numbers"]["local"],
        "number_toll_free": plan["numbers"]["toll_free"],
    }
    return page(
        web,
        request,
        session,
        "panel/plan.html",
        status=422 if errors else 200,
        editor=editor,
        plan=plan,
        values=shown,
        errors=errors,
    )


@router.get("/plans")
def plans(request: Request, session: Staff, web: WebFaces) -> Response:
    editor = views.plan_editor(web.rebill.uow, agency_of(session), None)
    return page(web, request, session, "panel/plans.html", editor=editor)


@router.get("/plans/{plan_id}")
def plan(request: Request, plan_id: str, session: Staff, web: WebFaces) -> Response:
    return plan_page(web, request, session, plan_id, None, {})


@router.post("/plans/{plan_id}")
async def post_plan(request: Request, plan_id: str, session: Staff, web: WebFaces) -> Response:
    form = await web.form(request, session)
    must(session, "settings")
    rebill = web.rebill
    try:
        views.save_plan_prices(
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
    return RedirectResponse(f"/panel/plans/{plan_id}?saved=plan", 303)
