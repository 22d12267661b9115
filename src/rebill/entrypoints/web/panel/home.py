"""`/panel`: the agency's home (this month's usage, revenue and alerts at a glance)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from rebill.entrypoints.web.deps import Staff, WebFaces
from rebill.entrypoints.web.panel.pages import agency_of, page
from rebill.services.views import panel as views

router = APIRouter(prefix="/panel", include_in_schema=False)


@router.get("")
def home(request: Request, session: Staff, web: WebFaces) -> Response:
    rebill = web.rebill
    data = views.agency_home(rebill.uow, agency_of(session), rebill.clock.now())
    return page(web, request, session, "panel/home.html", home=data)
