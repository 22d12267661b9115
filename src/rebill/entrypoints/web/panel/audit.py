"""`/panel/audit`: the agency's audit log (who changed what, when, before and after)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from rebill.entrypoints.web.deps import Staff, WebFaces
from rebill.entrypoints.web.panel.pages import agency_of, page
from rebill.services.views import panel as views

router = APIRouter(prefix="/panel", include_in_schema=False)


@router.get("/audit")
def audit(request: Request, session: Staff, web: WebFaces) -> Response:
    entries = views.audit_log(web.rebill.uow, agency_of(session))
    return page(web, request, session, "panel/audit.html", entries=entries)
