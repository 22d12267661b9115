"""`/panel/alerts`: who is over or near a cap, and every alert that fired, a page at a time."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from rebill.domain.text import is_digits
from rebill.entrypoints.web.deps import Staff, WebFaces
from rebill.entrypoints.web.panel.pages import agency_of, page
from rebill.services.views.watch import cap_watch

router = APIRouter(prefix="/panel", include_in_schema=False)


@router.get("/alerts")
def alerts(request: Request, session: Staff, web: WebFaces) -> Response:
    text = request.query_params.get("page", "1")
    number = int(text) if is_digits(text, 6) else 1
    rebill = web.rebill
    watch = cap_watch(rebill.uow, agency_of(session), rebill.clock.now(), number)
    return page(web, request, session, "panel/alerts.html", watch=watch)
