"""The REST API. Every route scopes its queries by the caller's tenant: an object of another
agency or sub-account answers 404, never its data. POSTs honour `Idempotency-Key`."""

import csv
import hashlib
import io
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from rebill.bootstrap import App
from rebill.domain.access import Principal
from rebill.domain.errors import (
    BillingError,
    ConflictError,
    FieldError,
    GatewayError,
    NotFoundError,
    ValidationError,
)
from rebill.domain.money import format_micros_as_minor
from rebill.domain.period import Period
from rebill.entrypoints import web
from rebill.entrypoints.api import errors, schemas
from rebill.entrypoints.api.body import load_json
from rebill.entrypoints.api.guard import PRINCIPAL_KEY, Guard
from rebill.services.access.keys import authenticate
from rebill.services.accounts.sub_accounts import set_auto_top_up, set_caps, set_state
from rebill.services.brand import domains
from rebill.services.catalog.apply import apply_catalog
from rebill.services.catalog.ownership import CatalogCaller
from rebill.services.invoicing import billing
from rebill.services.invoicing.close import close_period, closed_period_document
from rebill.services.notifications import webhooks
from rebill.services.payments import gateway
from rebill.services.payments.collect import charge_invoice, refund_duplicates, refund_invoice
from rebill.services.payments.gateway_events import handle_event
from rebill.services.payments.top_ups import process_top_ups
from rebill.services.usage.authorize import authorize_call
from rebill.services.usage.import_file import ingest_calls
from rebill.services.views import queries, reports

idempotency_window = timedelta(hours=24)
webhook_poll_seconds = 2.0
top_up_poll_rounds = 15  # every 30 s
logger = logging.getLogger("rebill.api")
PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": schemas.Problem, "content": {errors.PROBLEM: {}}}
    for status in (400, 401, 403, 404, 409, 422)
}
# Routes that ask the payment gateway: it failed (502), or this server has none (503).
GATEWAY_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": schemas.Problem, "content": {errors.PROBLEM: {}}} for status in (502, 503)
}


def create_app(rebill: App, background: bool = False) -> FastAPI:
    """The API and the web panel. With `background` (`rebill serve`), a worker thread
    delivers due webhooks and charges pending auto top-ups while the server runs."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        # Two loops, so a slow webhook round never delays the auto top-ups.
        workers = [
            threading.Thread(target=loop, args=(rebill, stop), name=name, daemon=True)
            for loop, name in ((_webhook_loop, "rebill-webhooks"), (_top_up_loop, "rebill-top-ups"))
        ]
        if background:
            for worker in workers:
                worker.start()
        try:
            yield
        finally:
            stop.set()
            if background:
                for worker in workers:
                    worker.join(timeout=10)

    api = FastAPI(
        lifespan=lifespan,
        title="rebill",
        version="1",
        openapi_url="/openapi.json",
        docs_url="/docs" if rebill.settings.api_docs else None,
        description="White-label billing for AI phone-call minutes.",
        responses=PROBLEMS,
    )
    errors.install(api)
    api.state.force_https = rebill.settings.force_https
    api.add_middleware(
        Guard,
        authenticate=lambda token: authenticate(rebill.uow, token),
        hsts=rebill.settings.force_https,
    )

    def principal(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> Principal:
        checked = request.scope.get("state", {}).get(PRINCIPAL_KEY)
        if isinstance(checked, Principal):  # the guard authenticated it before the body
            return checked
        if not authorization or not authorization.startswith("Bearer "):
            raise HTTPException(
                401, "send `Authorization: Bearer <key>`", headers={"WWW-Authenticate": "Bearer"}
            )
        found = authenticate(rebill.uow, authorization.removeprefix("Bearer ").strip())
        if found is None:
            raise HTTPException(
                401, "this key is unknown or revoked", headers={"WWW-Authenticate": "Bearer"}
            )
        return found

    Caller = Annotated[Principal, Depends(principal)]
    AgencyParam = Annotated[
        str | None, Query(max_length=64, description="Platform keys: the agency to act on")
    ]
    IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]

    def agency_of(caller: Principal, agency: str | None) -> str:
        if caller.kind == "platform":
            if not agency:
                raise ValidationError(
                    [FieldError("query", "platform keys name the agency", "agency")]
                )
            return agency
        assert caller.agency_id is not None
        if agency and agency != caller.agency_id:
            raise NotFoundError(f"agency {agency!r} does not exist")
        return caller.agency_id

    def require(caller: Principal, area: str) -> None:
        if not caller.may_write(area):
            raise HTTPException(403, f"this key may not change {area}")

    def visible_sub(caller: Principal, agency_id: str, sub_id: str) -> None:
        if not caller.sees_sub_account(agency_id, sub_id):
            raise NotFoundError(f"sub-account {sub_id!r} does not exist")

    def seen_by(caller: Principal, agency: dict[str, Any]) -> dict[str, Any]:
        """The agency's terms with the platform (its credit limit) are not its clients' to see."""
        return {**agency, "credit_limit": None} if caller.kind == "sub_account" else agency

    def key_actor(caller: Principal) -> str:
        return f"key {caller.key_id} ({caller.role or caller.kind})"

    def catalog_caller(caller: Principal) -> CatalogCaller:
        """An agency key applies as its agency; `billing` and `admin` may move money."""
        return CatalogCaller(
            key_actor(caller),
            caller.agency_id if caller.kind != "platform" else None,
            may_move_money=caller.may_write("billing"),
        )

    def media_of(status: int) -> str:
        return errors.PROBLEM if status >= 400 else "application/json"

    def idempotent(
        request_body: bytes,
        path: str,
        caller: Principal,
        key: str | None,
        run: Callable[[], tuple[int, Any]],
    ) -> JSONResponse:
        """Replay the first response to (key id, Idempotency-Key) for 24 h; 409 while it is
        in flight; 422 when reused with another request."""
        if not key:
            status, body = run()
            return JSONResponse(body, status_code=status, media_type=media_of(status))
        digest = hashlib.sha256(path.encode() + b"\n" + request_body).hexdigest()
        now = rebill.clock.now()
        with rebill.uow() as uow:
            records = uow.platform.idempotency
            record = records.get(caller.key_id, key)
            if record and record.created_at + idempotency_window < now:
                records.forget(caller.key_id, key)
                record = None
            if record is None:
                records.start(caller.key_id, key, digest, now)
                uow.commit()
        if record is not None:
            if record.request_sha256 != digest:
                return errors.problem(
                    422,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with another request",
                    "Idempotency-Key",
                )
            if record.state != "done":
                return errors.problem(
                    409,
                    "idempotency_key_in_flight",
                    "a request with this Idempotency-Key is still being processed",
                )
            return JSONResponse(
                json.loads(record.response_body),
                media_type=media_of(record.status_code),
                status_code=record.status_code,
                headers={"Idempotent-Replayed": "true"},
            )
        try:
            status, body = run()
        except BillingError as exc:
            response = errors.billing_problem(exc)
            status, body = response.status_code, json.loads(bytes(response.body))
        except Exception:
            with rebill.uow() as cleanup:
                cleanup.platform.idempotency.forget(caller.key_id, key)
                cleanup.commit()
            raise
        with rebill.uow() as done:
            done.platform.idempotency.finish(caller.key_id, key, status, json.dumps(body))
            done.commit()
        return JSONResponse(body, status_code=status, media_type=media_of(status))

    async def respond(
        request: Request, caller: Principal, key: str | None, run: Callable[[], tuple[int, Any]]
    ) -> Response:
        """Every POST: read the body, then run the work off the event loop, idempotently."""
        raw = await request.body()
        target = request.url.path  # the query string too: ?agency=a and ?agency=b differ
        if request.url.query:
            target = f"{target}?{request.url.query}"
        return await run_in_threadpool(idempotent, raw, target, caller, key, run)

    def page(
        items: list[dict[str, Any]],
        limit: int,
        starting_after: str | None,
    ) -> dict[str, Any]:
        if starting_after is not None:
            ids = [i["id"] for i in items]
            if starting_after not in ids:
                raise ValidationError(
                    [
                        FieldError(
                            "query", f"no object {starting_after!r} in this list", "starting_after"
                        )
                    ]
                )
            items = items[ids.index(starting_after) + 1 :]
        return {"data": items[:limit], "has_more": len(items) > limit}

    Limit = Annotated[int, Query(ge=1, le=schemas.page_limit_max)]
    After = Annotated[str | None, Query(max_length=200)]

    @api.get("/v1/agencies", response_model=schemas.AgencyList, tags=["agencies"])
    def list_agencies(
        caller: Caller, limit: Limit = 20, starting_after: After = None
    ) -> dict[str, Any]:
        ids = None if caller.kind == "platform" else [caller.agency_id or ""]
        documents = [seen_by(caller, d) for d in queries.agency_documents(rebill.uow, ids)]
        return page(documents, limit, starting_after)

    @api.get("/v1/agencies/{agency_id}", response_model=schemas.Agency, tags=["agencies"])
    def get_agency(agency_id: str, caller: Caller) -> dict[str, Any]:
        if not caller.sees_agency(agency_id):
            raise NotFoundError(f"agency {agency_id!r} does not exist")
        found = queries.agency_documents(rebill.uow, [agency_id])
        if not found:
            raise NotFoundError(f"agency {agency_id!r} does not exist")
        return seen_by(caller, found[0])

    @api.get("/v1/plans", response_model=schemas.PlanList, tags=["plans"])
    def list_plans(
        caller: Caller, agency: AgencyParam = None, limit: Limit = 20, starting_after: After = None
    ) -> dict[str, Any]:
        agency_id = agency_of(caller, agency)
        return page(queries.plan_documents(rebill.uow, agency_id), limit, starting_after)

    @api.get("/v1/plans/{plan_id}", response_model=schemas.Plan, tags=["plans"])
    def get_plan(plan_id: str, caller: Caller, agency: AgencyParam = None) -> dict[str, Any]:
        agency_id = agency_of(caller, agency)
        for plan in queries.plan_documents(rebill.uow, agency_id):
            if plan["id"] == plan_id:
                return plan
        raise NotFoundError(f"plan {plan_id!r} does not exist")

    @api.get("/v1/sub_accounts", response_model=schemas.SubAccountList, tags=["sub-accounts"])
    def list_sub_accounts(
        caller: Caller, agency: AgencyParam = None, limit: Limit = 20, starting_after: After = None
    ) -> dict[str, Any]:
        agency_id = agency_of(caller, agency)
        documents = queries.sub_account_documents(
            rebill.uow, agency_id, caller.sub_account_id, rebill.clock.now()
        )
        return page(documents, limit, starting_after)

    @api.get("/v1/sub_accounts/{sub_id}", response_model=schemas.SubAccount, tags=["sub-accounts"])
    def get_sub_account(sub_id: str, caller: Caller, agency: AgencyParam = None) -> dict[str, Any]:
        agency_id = agency_of(caller, agency)
        visible_sub(caller, agency_id, sub_id)
        found = queries.sub_account_documents(rebill.uow, agency_id, sub_id, rebill.clock.now())
        if not found:
            raise NotFoundError(f"sub-account {sub_id!r} does not exist")
        return found[0]

    @api.post(
        "/v1/sub_accounts/{sub_id}/caps", response_model=schemas.SubAccount, tags=["sub-accounts"]
    )
    async def post_caps(
        sub_id: str,
        body: schemas.CapsIn,
        request: Request,
        caller: Caller,
        agency: AgencyParam = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        def run() -> tuple[int, Any]:
            agency_id = agency_of(caller, agency)
            visible_sub(caller, agency_id, sub_id)
            require(caller, "settings")
            set_caps(
                rebill.uow,
                agency_id,
                sub_id,
                body.monthly_spend,
                body.monthly_minutes,
                ",".join(body.alerts) if body.alerts is not None else None,
                body.enforcement,
                key_actor(caller),
                rebill.clock.now(),
            )
            return 200, queries.sub_account_documents(
                rebill.uow, agency_id, sub_id, rebill.clock.now()
            )[0]

        return await respond(request, caller, idempotency_key, run)

    @api.post(
        "/v1/sub_accounts/{sub_id}/auto_top_up",
        response_model=schemas.SubAccount,
        tags=["sub-accounts"],
    )
    async def post_auto_top_up(
        sub_id: str,
        body: schemas.AutoTopUpIn,
        request: Request,
        caller: Caller,
        agency: AgencyParam = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        """Charge the client's saved card `amount` when its credits fall below `threshold`
        (both null: off). Bounded like a checkout purchase; `billing` and `admin` keys only."""

        def run() -> tuple[int, Any]:
            agency_id = agency_of(caller, agency)
            visible_sub(caller, agency_id, sub_id)
            require(caller, "billing")
            set_auto_top_up(
                rebill.uow,
                agency_id,
                sub_id,
                body.threshold,
                body.amount,
                catalog_caller(caller),
                rebill.clock.now(),
            )
            return 200, queries.sub_account_documents(
                rebill.uow, agency_id, sub_id, rebill.clock.now()
            )[0]

        return await respond(request, caller, idempotency_key, run)

    @api.post(
        "/v1/sub_accounts/{sub_id}/state", response_model=schemas.StateOut, tags=["sub-accounts"]
    )
    async def post_state(
        sub_id: str,
        body: schemas.StateIn,
        request: Request,
        caller: Caller,
        agency: AgencyParam = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        def run() -> tuple[int, Any]:
            agency_id = agency_of(caller, agency)
            visible_sub(caller, agency_id, sub_id)
            require(caller, "settings")
            old = set_state(
                rebill.uow,
                agency_id,
                sub_id,
                body.state,
                caller.key_id,
                body.reason,
                rebill.clock.now(),
            )
            return 200, {"id": sub_id, "from_state": old, "to_state": body.state}

        return await respond(request, caller, idempotency_key, run)

    @api.get("/v1/sub_accounts/{sub_id}/credits", response_model=schemas.Credits, tags=["credits"])
    def get_credits(sub_id: str, caller: Caller, agency: AgencyParam = None) -> dict[str, Any]:
        document = get_sub_account(sub_id, caller, agency)
        return {
            "id": sub_id,
            "sub_account": sub_id,
            "currency": document["currency"],
            "balance": document["credits"],
        }

    @api.post(
        "/v1/sub_accounts/{sub_id}/credits",
        response_model=schemas.CreditPurchase,
        status_code=201,
        tags=["credits"],
    )
    async def post_credits(
        sub_id: str,
        body: schemas.CreditsIn,
        request: Request,
        caller: Caller,
        agency: AgencyParam = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        def run() -> tuple[int, Any]:
            agency_id = agency_of(caller, agency)
            visible_sub(caller, agency_id, sub_id)
            require(caller, "billing")
            by_key = f"{caller.key_id}:{idempotency_key}" if idempotency_key else None
            purchase = billing.add_credits(
                rebill.uow,
                agency_id,
                sub_id,
                body.amount,
                rebill.clock.now(),
                body.reference or by_key,
            )
            currency = purchase.currency
            return 201, {
                "id": purchase.receipt,
                "receipt": purchase.receipt,
                "sub_account": sub_id,
                "currency": currency,
                "balance": format_micros_as_minor(purchase.balance_micros, currency),
            }

        return await respond(request, caller, idempotency_key, run)

    @api.post("/v1/calls", response_model=schemas.CallsOut, tags=["calls"])
    async def post_calls(
        body: schemas.CallsIn,
        request: Request,
        caller: Caller,
        agency: AgencyParam = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        def run() -> tuple[int, Any]:
            agency_id = agency_of(caller, agency)
            require(caller, "usage")
            records = [call.record() for call in body.calls]
            results = ingest_calls(rebill.uow, agency_id, records, rebill.clock.now())
            return 200, {
                "results": [
                    {
                        "call_id": r.call_id,
                        "status": r.status,
                        "error": (
                            {
                                "code": "invalid_record",
                                "message": str(r.error),
                                "param": r.error.field,
                            }
                            if r.error
                            else None
                        ),
                    }
                    for r in results
                ]
            }

        return await respond(request, caller, idempotency_key, run)

    @api.post("/v1/calls/authorize", response_model=schemas.AuthorizeOut, tags=["calls"])
    async def post_authorize(
        body: schemas.AuthorizeIn,
        request: Request,
        caller: Caller,
        agency: AgencyParam = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        def run() -> tuple[int, Any]:
            agency_id = agency_of(caller, agency)
            visible_sub(caller, agency_id, body.sub_account)
            require(caller, "usage")
            result = authorize_call(
                rebill.uow,
                agency_id,
                body.sub_account,
                body.direction,
                body.call_id,
                rebill.clock.now(),
            )
            return 200, result.document()

        return await respond(request, caller, idempotency_key, run)

    @api.get("/v1/invoices", response_model=schemas.InvoiceList, tags=["invoices"])
    def list_invoices(
        caller: Caller,
        agency: AgencyParam = None,
        period: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
        limit: Limit = 20,
        starting_after: After = None,
    ) -> dict[str, Any]:
        agency_id = agency_of(caller, agency)
        label = _period(period) if period else None
        documents = [
            {"id": d["number"], **d}
            for d in reports.list_invoices(rebill.uow, agency_id, label)
            if caller.kind != "sub_account" or d["sub_account"] == caller.sub_account_id
        ]
        if caller.kind == "agency":  # the platform's invoice to the agency is the agency's
            documents = [d for d in documents if d["agency"] == agency_id]
        return page(documents, limit, starting_after)

    @api.get("/v1/invoices/{number}", response_model=schemas.Invoice, tags=["invoices"])
    def get_invoice(number: str, caller: Caller, agency: AgencyParam = None) -> dict[str, Any]:
        return {"id": number, **visible_invoice(caller, agency_of(caller, agency), number)}

    def visible_invoice(caller: Principal, agency_id: str, number: str) -> dict[str, Any]:
        """A sub-account key sees its own invoices only (404 for any other)."""
        for document in reports.list_invoices(rebill.uow, agency_id, None):
            if document["number"] == number and (
                caller.kind != "sub_account" or document["sub_account"] == caller.sub_account_id
            ):
                return document
        raise NotFoundError(f"invoice {number!r} does not exist")

    @api.post(
        "/v1/invoices/{number}/charge",
        response_model=schemas.InvoiceCharge,
        tags=["invoices"],
        responses={
            402: {
                "model": schemas.Problem,
                "content": {errors.PROBLEM: {}},
                "description": "payment_failed: declined or authentication needed; still open",
            },
            **GATEWAY_PROBLEMS,
        },
    )
    async def post_charge(
        number: Annotated[str, Path(max_length=40)],
        request: Request,
        caller: Caller,
        agency: AgencyParam = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        """Charge an open invoice to its payer's saved card, off session (402 when the card
        is declined or needs authentication: the invoice stays open)."""

        def run() -> tuple[int, Any]:
            agency_id = agency_of(caller, agency)
            require(caller, "billing")
            visible_invoice(caller, agency_id, number)
            document = charge_invoice(
                rebill.uow, rebill.gateway, agency_id, number, rebill.clock.now()
            )
            if document["status"] in ("paid", "processing"):
                return 200, document
            last = document["attempts"][-1]
            failed = errors.problem(
                402,
                "payment_failed",
                f"{number} stays open: {last['message'] or last['code']}",
                None,
                [last],
            )
            return 402, json.loads(bytes(failed.body))

        return await respond(request, caller, idempotency_key, run)

    @api.post(
        "/v1/invoices/{number}/refund",
        response_model=schemas.Refund,
        status_code=201,
        tags=["invoices"],
        responses={
            **GATEWAY_PROBLEMS,
        },
    )
    async def post_refund(
        number: Annotated[str, Path(max_length=40)],
        body: schemas.RefundIn,
        request: Request,
        caller: Caller,
        agency: AgencyParam = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        """Refund a paid invoice or receipt and issue its credit note."""

        def run() -> tuple[int, Any]:
            agency_id = agency_of(caller, agency)
            require(caller, "billing")
            if caller.kind == "sub_account":
                raise HTTPException(403, "refunds are the agency's to give")
            visible_invoice(caller, agency_id, number)
            document = refund_invoice(
                rebill.uow, rebill.gateway, agency_id, number, body.amount, rebill.clock.now()
            )
            return 201, document

        return await respond(request, caller, idempotency_key, run)

    @api.post("/v1/periods/{period}/close", response_model=schemas.PeriodOut, tags=["periods"])
    async def post_close(
        period: str,
        request: Request,
        caller: Caller,
        agency: AgencyParam = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        def run() -> tuple[int, Any]:
            agency_id = agency_of(caller, agency)
            require(caller, "billing")
            label = _period(period)
            (document,) = close_period(
                rebill.uow, label, [agency_id], rebill.clock.now(), rebill.gateway
            )
            return 200, {
                "id": str(label),
                "agency": agency_id,
                "status": "closed",
                "document": document,
            }

        return await respond(request, caller, idempotency_key, run)

    @api.get("/v1/periods/{period}", response_model=schemas.PeriodOut, tags=["periods"])
    def get_period(period: str, caller: Caller, agency: AgencyParam = None) -> dict[str, Any]:
        agency_id = agency_of(caller, agency)
        label = _period(period)
        if caller.kind == "sub_account":
            raise HTTPException(403, "sub-account keys cannot read the agency's periods")
        document = closed_period_document(rebill.uow, agency_id, label)
        return {
            "id": str(label),
            "agency": agency_id,
            "status": "closed" if document is not None else "open",
            "document": document,
        }

    @api.get(
        "/v1/reports/usage",
        response_model=schemas.UsageReport,
        tags=["reports"],
        responses={200: {"content": {"text/csv": {}}}},
    )
    def usage_report(
        caller: Caller,
        period: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")],
        agency: AgencyParam = None,
        format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
    ) -> Any:
        agency_id = agency_of(caller, agency)
        summary = reports.usage_summary(rebill.uow, agency_id, _period(period))
        rows = [
            r
            for r in summary["sub_accounts"]
            if caller.kind != "sub_account" or r["sub_account"] == caller.sub_account_id
        ]
        if format == "csv":
            return _csv(rows)
        return {
            "id": f"usage:{agency_id}:{period}",
            "agency": agency_id,
            "period": period,
            "status": summary["status"],
            "data": rows,
        }

    @api.get(
        "/v1/reports/profit",
        response_model=schemas.ProfitReport,
        tags=["reports"],
        responses={200: {"content": {"text/csv": {}}}},
    )
    def profit_report(
        caller: Caller,
        period: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")],
        agency: AgencyParam = None,
        format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
    ) -> Any:
        found = get_period(period, caller, agency)
        document = found["document"]
        if document is None:
            raise ConflictError(f"period {period} is not closed yet")
        profit = document["profit"]
        if format == "csv":
            return _csv(profit["by_sub_account"])
        return {
            "id": f"profit:{found['agency']}:{period}",
            "agency": found["agency"],
            "period": period,
            "currency": document["currency"],
            "revenue": profit["revenue"],
            "cost": profit["cost"],
            "profit": profit["profit"],
            "data": profit["by_sub_account"],
        }

    @api.get("/v1/alerts", response_model=schemas.AlertList, tags=["alerts"])
    def list_alerts(
        caller: Caller, agency: AgencyParam = None, limit: Limit = 20, starting_after: After = None
    ) -> dict[str, Any]:
        agency_id = agency_of(caller, agency)
        documents = queries.alert_documents(rebill.uow, agency_id, caller.sub_account_id)
        return page(documents, limit, starting_after)

    @api.post("/v1/catalog", response_model=schemas.ApplyOut, tags=["catalog"])
    async def post_catalog(
        request: Request, caller: Caller, idempotency_key: IdempotencyKey = None
    ) -> Response:
        """Apply a catalog document (the shape of the catalog file, as JSON)."""
        raw = await request.body()

        def run() -> tuple[int, Any]:
            require(caller, "settings")
            document = load_json(raw)
            report = apply_catalog(
                rebill.uow, document, "request body", rebill.clock.now(), catalog_caller(caller)
            )
            return 200, {
                "id": "catalog",
                "created": report.created,
                "updated": report.updated,
                "receipts": report.receipts,
            }

        return await respond(request, caller, idempotency_key, run)

    @api.get("/v1/domains", response_model=schemas.DomainList, tags=["domains"])
    def list_domains(caller: Caller, agency: AgencyParam = None) -> dict[str, Any]:
        """Custom portal domains: asked for (with the TXT record that proves control) and
        active. Platform keys without `agency` see every agency's."""
        if caller.kind == "sub_account":
            raise HTTPException(403, "sub-account keys cannot read domains")
        agency_id = agency_of(caller, agency) if caller.kind != "platform" or agency else None
        return {"data": domains.list_domains(rebill.uow, agency_id), "has_more": False}

    @api.post("/v1/domains", response_model=schemas.Domain, status_code=201, tags=["domains"])
    async def post_domain(
        body: schemas.DomainIn,
        request: Request,
        caller: Caller,
        agency: AgencyParam = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        """Ask for a portal domain. It stays `pending` until its TXT record is verified or
        the platform approves it; a platform host or another agency's domain is refused."""

        def run() -> tuple[int, Any]:
            agency_id = agency_of(caller, agency)
            require(caller, "settings")
            hosts = domains.PlatformHosts(rebill.settings.own_hosts())
            return 201, domains.request_domain(
                rebill.uow, agency_id, body.domain, hosts, rebill.clock.now()
            )

        return await respond(request, caller, idempotency_key, run)

    @api.post("/v1/domains/{domain}/verify", response_model=schemas.Domain, tags=["domains"])
    async def post_domain_verify(
        domain: Annotated[str, Path(max_length=253)],
        request: Request,
        caller: Caller,
        agency: AgencyParam = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        """Check the domain's TXT record now; activate it when it carries the token."""

        def run() -> tuple[int, Any]:
            agency_id = agency_of(caller, agency)
            require(caller, "settings")
            return 200, domains.verify_domain(
                rebill.uow, rebill.dns(), agency_id, domain, rebill.clock.now()
            )

        return await respond(request, caller, idempotency_key, run)

    @api.post("/v1/domains/{domain}/approve", response_model=schemas.Domain, tags=["domains"])
    async def post_domain_approve(
        domain: Annotated[str, Path(max_length=253)],
        request: Request,
        caller: Caller,
        agency: AgencyParam = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        """The platform approves a domain an agency asked for (platform keys only)."""

        def run() -> tuple[int, Any]:
            if caller.kind != "platform":
                raise HTTPException(403, "only the platform approves domains")
            agency_id = agency_of(caller, agency)
            return 200, domains.approve_domain(rebill.uow, agency_id, domain, rebill.clock.now())

        return await respond(request, caller, idempotency_key, run)

    @api.post(
        "/v1/webhook_endpoints",
        response_model=schemas.WebhookEndpointCreated,
        status_code=201,
        tags=["webhooks"],
    )
    async def post_webhook_endpoint(
        body: schemas.WebhookEndpointIn,
        request: Request,
        caller: Caller,
        agency: AgencyParam = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        """Register a URL; the signing secret is shown once, in this answer."""

        def run() -> tuple[int, Any]:
            agency_id = agency_of(caller, agency)
            require(caller, "settings")
            created = webhooks.add_endpoint(
                rebill.uow,
                agency_id,
                body.url,
                body.events,
                rebill.settings.webhooks_allow_private,
                rebill.clock.now(),
            )
            return 201, created

        return await respond(request, caller, idempotency_key, run)

    @api.get("/v1/webhook_endpoints", response_model=schemas.WebhookEndpointList, tags=["webhooks"])
    def list_webhook_endpoints(
        caller: Caller, agency: AgencyParam = None, limit: Limit = 20, starting_after: After = None
    ) -> dict[str, Any]:
        agency_id = agency_of(caller, agency)
        if caller.kind == "sub_account":
            raise HTTPException(403, "sub-account keys cannot read webhook endpoints")
        return page(webhooks.list_endpoints(rebill.uow, agency_id), limit, starting_after)

    @api.get(
        "/v1/webhook_deliveries", response_model=schemas.WebhookDeliveryList, tags=["webhooks"]
    )
    def list_webhook_deliveries(
        caller: Caller, agency: AgencyParam = None, limit: Limit = 20, starting_after: After = None
    ) -> dict[str, Any]:
        agency_id = agency_of(caller, agency)
        if caller.kind == "sub_account":
            raise HTTPException(403, "sub-account keys cannot read webhook deliveries")
        return page(webhooks.list_deliveries(rebill.uow, agency_id), limit, starting_after)

    @api.post(
        "/v1/webhook_deliveries/{delivery_id}/replay",
        response_model=schemas.WebhookDeliveryList,
        tags=["webhooks"],
    )
    async def post_replay(
        delivery_id: str,
        request: Request,
        caller: Caller,
        agency: AgencyParam = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        def run() -> tuple[int, Any]:
            agency_id = agency_of(caller, agency)
            require(caller, "settings")
            webhooks.replay(rebill.uow, agency_id, delivery_id, rebill.clock.now())
            deliveries = webhooks.list_deliveries(rebill.uow, agency_id)
            found = [d for d in deliveries if d["id"] == delivery_id]
            return 200, {"data": found, "has_more": False}

        return await respond(request, caller, idempotency_key, run)

    @api.post("/webhooks/stripe", tags=["gateway"], include_in_schema=False)
    async def stripe_webhook(request: Request) -> Response:
        """Connect events from Stripe: signature checked, routed by `account`, replays by
        event id ignored, any order accepted."""
        payload = await request.body()
        context = rebill.gateway
        if context.gateway is None:
            return errors.problem(503, "gateway_not_configured", "Stripe is not configured")
        signature = request.headers.get("stripe-signature")
        try:
            event = context.gateway.verify_webhook(payload, signature)
        except GatewayError as exc:
            return errors.problem(400, exc.gateway_code, exc.message)
        outcome = handle_event(rebill.uow, context, event, rebill.clock.now())
        return JSONResponse({"received": True, "outcome": outcome})

    @api.get("/connect/return", tags=["gateway"], include_in_schema=False)
    def connect_return(request: Request, state: Annotated[str, Query(max_length=200)]) -> Response:
        """Where Stripe sends the agency after onboarding: re-read its account's status, then
        back to the panel's gateway page. The state works once, in the session that made it."""
        session_sha256 = web.connect_session(rebill, request)
        gateway.refresh_link(
            rebill.uow, rebill.gateway, state, rebill.clock.now(), session_sha256=session_sha256
        )
        return RedirectResponse("/panel/gateway?saved=onboarded", status_code=303)

    @api.get("/connect/refresh", tags=["gateway"], include_in_schema=False)
    def connect_refresh(request: Request, state: Annotated[str, Query(max_length=200)]) -> Response:
        """An onboarding link expired or was used: send the agency to a fresh one."""
        session_sha256 = web.connect_session(rebill, request)
        url = gateway.onboarding_link(
            rebill.gateway, rebill.uow, state, rebill.clock.now(), session_sha256=session_sha256
        )
        return RedirectResponse(url, status_code=303)

    @api.get("/connect/oauth/callback", tags=["gateway"], include_in_schema=False)
    def connect_oauth_callback(
        request: Request,
        state: Annotated[str, Query(max_length=200)],
        code: Annotated[str | None, Query(max_length=200)] = None,
        error: Annotated[str | None, Query(max_length=200)] = None,
        error_description: Annotated[str | None, Query(max_length=500)] = None,
    ) -> Response:
        """Where Stripe returns an agency that connected (or declined to connect) its own
        Standard account; then back to the panel's gateway page."""
        if error or not code:
            raise ConflictError(
                f"Stripe did not connect the account: {error_description or error or 'no code'}"
            )
        gateway.oauth_complete(
            rebill.uow,
            rebill.gateway,
            state,
            code,
            rebill.clock.now(),
            session_sha256=web.connect_session(rebill, request),
        )
        return RedirectResponse("/panel/gateway?saved=connected", status_code=303)

    web.install(api, rebill)
    return api


def _webhook_loop(rebill: App, stop: threading.Event) -> None:
    """Deliver due webhooks every `webhook_poll_seconds` (a round waits for its slowest
    agency, within the limits of `services.webhooks`)."""
    while not stop.wait(webhook_poll_seconds):
        try:
            webhooks.deliver_due(rebill.uow, rebill.webhook_sender, rebill.clock.now())
        except Exception:  # keep the loop alive; the next round retries
            logger.exception("webhook delivery round failed")


def _top_up_loop(rebill: App, stop: threading.Event) -> None:
    """Charge pending auto top-ups (and refund duplicate payments) every
    `top_up_poll_rounds` webhook polls' worth of time, when Stripe is configured; in a thread
    of its own, so webhook rounds cannot delay it."""
    while not stop.wait(webhook_poll_seconds * top_up_poll_rounds):
        if rebill.gateway.gateway is None:
            continue
        try:
            process_top_ups(rebill.uow, rebill.gateway, rebill.clock.now())
            refund_duplicates(rebill.uow, rebill.gateway, rebill.clock.now())
        except Exception:  # keep the loop alive; the next round retries
            logger.exception("auto top-up round failed")


def _period(text: str) -> Period:
    try:
        return Period.parse(text)
    except ValueError as exc:
        raise ValidationError([FieldError("path", str(exc), "period")]) from None


def _csv(rows: list[dict[str, Any]]) -> Response:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return Response(buffer.getvalue(), media_type="text/csv")
