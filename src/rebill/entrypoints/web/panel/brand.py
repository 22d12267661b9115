"""`/panel/brand`: the agency's display brand (name, colour, contact, logo upload) and its
portal domain: asking for one and verifying its TXT record (`admin`, `settings`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUploadFile

from rebill.domain.errors import BillingError
from rebill.domain.logo import logo_bytes_max
from rebill.entrypoints.web.common import Web
from rebill.entrypoints.web.deps import Staff, WebFaces
from rebill.entrypoints.web.panel.pages import actor, agency_of, error_fields, must, page
from rebill.services.access.users import WebSession
from rebill.services.brand import domains
from rebill.services.views import panel as views

router = APIRouter(prefix="/panel", include_in_schema=False)


def brand_page(
    web: Web,
    request: Request,
    session: WebSession,
    values: dict[str, str] | None,
    errors: dict[str, str],
) -> Response:
    editor = views.brand_editor(web.rebill.uow, agency_of(session))
    return page(
        web,
        request,
        session,
        "panel/brand.html",
        status=422 if errors else 200,
        editor=editor,
        values=values or editor["values"],
        errors=errors,
        logo_kib=logo_bytes_max // 1024,
    )


@router.get("/brand")
def brand(request: Request, session: Staff, web: WebFaces) -> Response:
    return brand_page(web, request, session, None, {})


@router.post("/brand")
async def post_brand(request: Request, session: Staff, web: WebFaces) -> Response:
    """The display brand; the logo comes as an uploaded file (multipart), never a path."""
    form = await web.form(request, session)
    must(session, "settings")
    upload = (await request.form()).get("logo")
    logo = None
    if isinstance(upload, StarletteUploadFile) and upload.filename:
        logo = await upload.read(logo_bytes_max + 1)
    rebill = web.rebill
    try:
        views.save_brand(
            rebill.uow, agency_of(session), form, logo, actor(session), rebill.clock.now()
        )
    except BillingError as exc:
        found = {k.rsplit(".", 1)[-1]: m for k, m in error_fields(exc).items()}  # brand.logo
        summary = "The brand was not saved." if found else exc.message
        return brand_page(web, request, session, form, {"form": summary, **found})
    return RedirectResponse("/panel/brand?saved=brand", 303)


@router.post("/brand/domain")
async def post_domain(request: Request, session: Staff, web: WebFaces) -> Response:
    form = await web.form(request, session)
    must(session, "settings")
    rebill = web.rebill
    try:
        domains.request_domain(
            rebill.uow,
            agency_of(session),
            form.get("domain", ""),
            domains.PlatformHosts(rebill.settings.own_hosts()),
            rebill.clock.now(),
        )
    except BillingError as exc:
        return brand_page(web, request, session, None, {"domain": exc.message})
    return RedirectResponse("/panel/brand?saved=domain", 303)


@router.post("/brand/domain/verify")
async def post_verify(request: Request, session: Staff, web: WebFaces) -> Response:
    form = await web.form(request, session)
    must(session, "settings")
    rebill = web.rebill
    try:
        await run_in_threadpool(
            domains.verify_domain,
            rebill.uow,
            rebill.dns(),
            agency_of(session),
            form.get("domain", ""),
            rebill.clock.now(),
        )
    except BillingError as exc:
        return brand_page(web, request, session, None, {"domain": exc.message})
    return RedirectResponse("/panel/brand?saved=verified", 303)
