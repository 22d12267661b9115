"""What operators and load balancers see: `/healthz` (the process answers), `/readyz` (the
database answers and its schema is current; 503 otherwise), `/metrics` (Prometheus text, across
every worker process when PROMETHEUS_MULTIPROC_DIR is set, as `rebill serve --workers N` does),
and an ASGI layer that gives every request an id (`X-Request-ID`, taken from the request when it
has a sane one), counts and times it by route template, and logs it as one JSON line."""

from __future__ import annotations

import hmac
import logging
import os
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool

from rebill.bootstrap import App, schema_is_current
from rebill.entrypoints.api.guard import ASGIApp, Message, Receive, Scope, Send
from rebill.services.jobs import backlog

access_log = logging.getLogger("rebill.api.access")
REQUEST_ID = "X-Request-ID"
_sane_id = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

REQUESTS = Counter(
    "rebill_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "rebill_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
CALLS = Counter("rebill_calls_recorded_total", "Call records received, by outcome", ["status"])
AUTHORIZATIONS = Counter(
    "rebill_authorizations_total",
    "Call authorizations, by decision and reason",
    ["allowed", "reason"],
)


def count_calls(statuses: Iterator[str] | list[str]) -> None:
    """Count recorded calls by their outcome (stored, duplicate, rejected...)."""
    tally: dict[str, int] = {}
    for status in statuses:
        tally[status] = tally.get(status, 0) + 1
    for status, n in tally.items():
        CALLS.labels(status).inc(n)


def count_authorization(allowed: bool, reason: str | None) -> None:
    AUTHORIZATIONS.labels(str(allowed).lower(), reason or "").inc()


class Observe:
    """Request id, metrics by route template, one JSON access-log line a request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        header = (REQUEST_ID.lower().encode(), request_id.encode())
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - started
            route = _route(scope)
            method = scope["method"]
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": method,
                        "route": route,
                        "status": status,
                        "ms": round(elapsed * 1000, 3),
                    },
                )


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = bytes(value).decode("latin-1")
            if _sane_id.match(text):
                return text
    return uuid.uuid4().hex


def _route(scope: Scope) -> str:
    """The route's template (/v1/invoices/{invoice_id}), never the raw path (unbounded
    label values); requests no route took count as `unmatched`."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class QueueCollector(Collector):
    """Job queue depth and the age of the oldest waiting item, read from the database at
    each scrape (so every process reports the same, shared queue)."""

    def __init__(self, rebill: App) -> None:
        self.rebill = rebill

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("rebill_job_queue_depth", "Items waiting, by job", labels=["job"])
        age = GaugeMetricFamily(
            "rebill_job_queue_oldest_age_seconds", "Age of the oldest waiting item", labels=["job"]
        )
        try:
            now = self.rebill.clock.now()
            for job, (count, oldest) in backlog(self.rebill.uow, now).items():
                depth.add_metric([job], count)
                age.add_metric([job], (now - oldest).total_seconds() if oldest else 0.0)
        except Exception:  # the database is away: /readyz says so, /metrics still answers
            logging.getLogger("rebill.api").warning("queue metrics unavailable", exc_info=True)
        yield depth
        yield age


def _registry(rebill: App) -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = CollectorRegistry()
        registry.register(_Default())
    registry.register(QueueCollector(rebill))
    return registry


class _Default(Collector):
    """This process's metrics (the default registry), beside the queue collector."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


def install(api: FastAPI, rebill: App) -> None:
    api.add_middleware(Observe)
    registry = _registry(rebill)
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        problem = await run_in_threadpool(_readiness, rebill)
        if problem is None:
            return JSONResponse({"status": "ready"})
        return JSONResponse(
            {"status": "unavailable", "detail": problem},
            status_code=503,
            headers={"Retry-After": "1"},
        )

    @router.get("/metrics")
    async def metrics(request: Request) -> Response:
        token = rebill.settings.metrics_token
        if token is not None and not scrape_allowed(request, token):
            return Response(
                "send `Authorization: Bearer <REBILL_METRICS_TOKEN>`\n",
                status_code=401,
                media_type="text/plain",
                headers={"WWW-Authenticate": "Bearer"},
            )
        text = await run_in_threadpool(generate_latest, registry)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    api.include_router(router)


def scrape_allowed(request: Request, token: str) -> bool:
    """The scrape carries the metrics token (compared in constant time)."""
    sent = request.headers.get("authorization", "")
    if not sent.startswith("Bearer "):
        return False
    return hmac.compare_digest(sent.removeprefix("Bearer ").strip().encode(), token.encode())


def _readiness(rebill: App) -> str | None:
    try:
        current = schema_is_current(rebill)
    except Exception as exc:
        return f"database unreachable: {type(exc).__name__}"
    return None if current else "database schema is not at the newest migration"
