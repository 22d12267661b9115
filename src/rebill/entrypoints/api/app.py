"""The REST API and the web faces in one ASGI app. Every route scopes its queries by the
caller's tenant: an object of another agency or sub-account answers 404, never its data.
POSTs honour `Idempotency-Key`. The routes live in `routes/` (one router per resource), their
dependencies in `deps.py`, the background loops of `rebill serve` in `background.py`."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from rebill.bootstrap import App, reading
from rebill.domain.access import Principal
from rebill.entrypoints import web
from rebill.entrypoints.api import errors, observe
from rebill.entrypoints.api.background import lifespan
from rebill.entrypoints.api.fast import FastCalls
from rebill.entrypoints.api.guard import Guard
from rebill.entrypoints.api.responses import PROBLEMS
from rebill.entrypoints.api.routes import (
    agencies,
    alerts,
    calls,
    catalog,
    credits,
    domains,
    gateway,
    invoices,
    periods,
    plans,
    reports,
    sub_accounts,
    webhooks,
)
from rebill.services.access.keys import authenticate

# In this order: the order of the OpenAPI document.
ROUTERS: tuple[APIRouter, ...] = (
    agencies.router,
    plans.router,
    sub_accounts.router,
    credits.router,
    calls.router,
    invoices.router,
    periods.router,
    reports.router,
    alerts.router,
    catalog.router,
    domains.router,
    webhooks.router,
    gateway.router,
)


def create_app(rebill: App, background: bool = False) -> FastAPI:
    """The API and the web panel. With `background` (`rebill serve`), a worker thread
    delivers due webhooks and charges pending auto top-ups while the server runs."""
    api = FastAPI(
        lifespan=lifespan(rebill, background),
        title="rebill",
        version="1",
        openapi_url="/openapi.json",
        docs_url="/docs" if rebill.settings.api_docs else None,
        description="White-label billing for AI phone-call minutes.",
        responses=PROBLEMS,
    )
    api.state.rebill = rebill
    api.state.force_https = rebill.settings.force_https
    errors.install(api)

    def key(token: str) -> Principal | None:
        return _authenticate(rebill, token)

    api.add_middleware(
        Guard, authenticate=key, hsts=rebill.settings.force_https, fast=FastCalls(rebill, api, key)
    )
    observe.install(api, rebill)  # outermost: every request gets an id and counts, refused too
    for router in ROUTERS:
        api.include_router(router)
    web.install(api, rebill)
    return api


def _authenticate(rebill: App, token: str) -> Principal | None:
    with reading():  # a key lookup never queues behind a writer (SQLite)
        return authenticate(rebill.uow, token)
