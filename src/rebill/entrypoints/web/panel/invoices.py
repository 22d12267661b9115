"""`/panel/invoices`: the agency's invoices (PDFs), closing last month, charging an open
invoice to the saved card and refunding a paid one (`billing`); and the usage CSV export."""

from __future__ import annotations

import csv
import io

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from rebill.domain.errors import BillingError, NotFoundError, ValidationError
from rebill.entrypoints.web.common import PageError, Web
from rebill.entrypoints.web.deps import Staff, WebFaces
from rebill.entrypoints.web.panel.pages import actor, agency_of, must, page, parse_period
from rebill.services.access.users import WebSession
from rebill.services.invoicing.close import close_period
from rebill.services.payments.collect import charge_invoice, refund_invoice
from rebill.services.payments.dunning import dunning_view
from rebill.services.views import invoice_list, money_moves, reports
from rebill.services.views.forms import plain_number
from rebill.services.views.periods import current_period, period_closing

router = APIRouter(prefix="/panel", include_in_schema=False)


def invoices_page(web: Web, request: Request, session: WebSession, error: str | None) -> Response:
    rebill = web.rebill
    agency_id = agency_of(session)
    period = parse_period(request.query_params.get("period"))
    documents = [
        d for d in reports.list_invoices(rebill.uow, agency_id, period) if d["agency"] == agency_id
    ]
    closing = period_closing(rebill.uow, agency_id, rebill.clock.now())
    query = request.query_params
    filters = {k: query.get(k, "") for k in ("client", "status", "kind")}
    clients = sorted({d["sub_account"] for d in documents if d["sub_account"]})
    return page(
        web,
        request,
        session,
        "panel/invoices.html",
        status=409 if error else 200,
        invoices=invoice_list.arrange(
            documents, filters["client"], filters["status"], filters["kind"]
        ),
        filters=filters,
        clients=clients,
        statuses=invoice_list.STATUSES,
        kinds=sorted({d["kind"] for d in documents}),
        period=query.get("period", ""),
        closable=closing["closable"],
        closed=closing["closed"],
        error=error,
        dunning=dunning_view(rebill.uow, agency_id),
    )


@router.get("/invoices")
def invoices(request: Request, session: Staff, web: WebFaces) -> Response:
    return invoices_page(web, request, session, None)


@router.post("/periods/close")
async def post_close(request: Request, session: Staff, web: WebFaces) -> Response:
    form = await web.form(request, session)
    must(session, "billing")
    period = parse_period(form.get("period"))
    if period is None:
        raise PageError(400, "name the period to close")
    rebill = web.rebill
    try:
        close_period(rebill.uow, period, [agency_of(session)], rebill.clock.now(), rebill.gateway)
    except BillingError as exc:
        return invoices_page(web, request, session, exc.message)
    return RedirectResponse("/panel/invoices?saved=close", 303)


def confirm_page(
    web: Web, request: Request, session: WebSession, number: str, action: str, amount: str
) -> Response:
    """The confirmation page of a charge or refund (a refund amount that is not one is
    refused on the invoices page instead)."""
    rebill = web.rebill
    try:
        asked = money_moves.confirmation(rebill.uow, agency_of(session), number, action, amount)
    except NotFoundError:
        raise PageError(404, "this invoice does not exist") from None
    except ValidationError as exc:
        text = "; ".join(e.message for e in exc.field_errors) or exc.summary
        return invoices_page(web, request, session, f"{number}: {text}")
    return page(web, request, session, "panel/confirm.html", asked=asked)


def _record(web: Web, session: WebSession, number: str, action: str, outcome: str) -> None:
    rebill = web.rebill
    money_moves.record(
        rebill.uow, agency_of(session), number, action, outcome, actor(session), rebill.clock.now()
    )


@router.post("/invoices/{number}/charge")
async def post_charge(request: Request, number: str, session: Staff, web: WebFaces) -> Response:
    form = await web.form(request, session)
    must(session, "billing")
    if form.get("confirm") != "yes":
        return confirm_page(web, request, session, number, "charge", "")
    rebill = web.rebill
    try:
        document = charge_invoice(
            rebill.uow, rebill.gateway, agency_of(session), number, rebill.clock.now()
        )
    except NotFoundError:
        raise PageError(404, "this invoice does not exist") from None
    except BillingError as exc:
        _record(web, session, number, "charge", f"refused: {exc.message}")
        return invoices_page(web, request, session, exc.message)
    if document["status"] != "paid":
        last = document["attempts"][-1]
        _record(web, session, number, "charge", f"{last['status']} ({last['code']})")
        return invoices_page(
            web,
            request,
            session,
            f"{number}: payment {last['status'].replace('_', ' ')} ({last['code']}): "
            f"{last['message']}. The invoice stays open.",
        )
    _record(web, session, number, "charge", f"paid {document.get('total', '')}".strip())
    return RedirectResponse("/panel/invoices?saved=charged", 303)


@router.post("/invoices/{number}/refund")
async def post_refund(request: Request, number: str, session: Staff, web: WebFaces) -> Response:
    form = await web.form(request, session)
    must(session, "billing")
    amount = plain_number(form.get("amount", ""))
    if form.get("confirm") != "yes":
        return confirm_page(web, request, session, number, "refund", amount)
    rebill = web.rebill
    try:
        refund_invoice(
            rebill.uow,
            rebill.gateway,
            agency_of(session),
            number,
            amount or None,
            rebill.clock.now(),
        )
    except NotFoundError:
        raise PageError(404, "this invoice does not exist") from None
    except BillingError as exc:
        message = exc.message
        if isinstance(exc, ValidationError):
            message = "; ".join(e.message for e in exc.field_errors) or exc.summary
        _record(web, session, number, "refund", f"refused: {message}")
        return invoices_page(web, request, session, f"{number}: {message}")
    _record(web, session, number, "refund", f"refunded {amount or 'all'}")
    return RedirectResponse("/panel/invoices?saved=refunded", 303)


@router.get("/invoices/{number}.pdf")
def invoice_file(request: Request, number: str, session: Staff, web: WebFaces) -> Response:
    return web.invoice_pdf(number, session.user.agency_id)


@router.get("/usage.csv")
def usage_csv(request: Request, session: Staff, web: WebFaces) -> Response:
    rebill = web.rebill
    agency_id = agency_of(session)
    period = parse_period(request.query_params.get("period"))
    if period is None:
        period = current_period(rebill.uow, agency_id, rebill.clock.now())
    summary = reports.usage_summary(rebill.uow, agency_id, period)
    buffer = io.StringIO()
    rows = summary["sub_accounts"]
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=["period", *rows[0]])
        writer.writeheader()
        writer.writerows({"period": str(period), **r} for r in rows)
    return Response(
        buffer.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="usage-{period}.csv"'},
    )
