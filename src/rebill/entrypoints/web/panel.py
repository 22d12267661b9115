"""The agency's admin panel (`/panel/...`): home, gateway and tax checklist, plans and rates,
sub-accounts (chart, caps, credits, numbers, invoices), period close, invoices with PDFs, a
CSV export of usage, users and the audit log. Every read is scoped by the signed-in user's
agency: another agency's objects answer 404."""

from __future__ import annotations

import csv
import io
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUploadFile

from rebill.domain.errors import BillingError, GatewayError, NotFoundError, ValidationError
from rebill.domain.gateway import ALL_FIXES
from rebill.domain.logo import logo_bytes_max
from rebill.domain.period import Period
from rebill.entrypoints.web.common import PageError, SignInRequired, Web, chart, field_messages
from rebill.services.access.users import WebSession, create_user, list_users
from rebill.services.brand import domains
from rebill.services.invoicing import billing
from rebill.services.invoicing.close import close_period
from rebill.services.invoicing.documents import invoice_pdf
from rebill.services.payments.collect import charge_invoice, refund_invoice
from rebill.services.payments.gateway import (
    MANUAL,
    gateway_status,
    link_gateway,
    oauth_url,
    onboard,
)
from rebill.services.views import panel, reports

CHECKLIST = (
    "Head office address",
    "Preset product tax code",
    "Default tax behaviour",
    "Tax registration",
)
NAV = (
    ("/panel", "Home"),
    ("/panel/gateway", "Gateway & tax"),
    ("/panel/plans", "Plans & rates"),
    ("/panel/sub-accounts", "Sub-accounts"),
    ("/panel/invoices", "Invoices"),
    ("/panel/brand", "Brand & domain"),
    ("/panel/users", "Users"),
    ("/panel/audit", "Audit log"),
)
SAVED = {
    "plan": "Plan saved.",
    "brand": "Brand saved.",
    "domain": "Domain asked for: publish the TXT record below, then verify.",
    "verified": "Domain verified: your portal answers on it.",
    "caps": "Caps saved.",
    "credits": "Credits added.",
    "close": "Period closed; invoices issued.",
    "gateway": "Manual gateway chosen: record your clients' payments as credits.",
    "onboarded": "Back from Stripe: the account's status is up to date.",
    "connected": "Your Stripe account is connected.",
    "charged": "Paid with the saved card.",
    "refunded": "Refunded; the credit note is issued.",
    "user": "User created.",
}


def checklist(tax: dict[str, Any], configured: bool) -> list[dict[str, Any]]:
    """The four Stripe Tax items, each ok or with its fix."""
    fixes = list(tax.get("fixes") or [])
    linked = configured and "stripe_account" not in (tax.get("missing_fields") or [])
    items = []
    for label, fix in zip(CHECKLIST, ALL_FIXES, strict=True):
        ok = linked and fix not in fixes
        items.append({"label": label, "ok": ok, "fix": None if ok else fix})
    return items


def _period(text: str | None) -> Period | None:
    if not text:
        return None
    try:
        return Period.parse(text)
    except ValueError:
        raise PageError(404, "no such period") from None


def routes(web: Web) -> APIRouter:
    router = APIRouter(prefix="/panel", include_in_schema=False)
    rebill = web.rebill

    def staff(request: Request) -> WebSession:
        session = web.session(request)
        if session is None:
            raise SignInRequired("/sign-in", request.url.path)
        if session.user.kind != "agency":
            raise PageError(404, "this page does not exist")
        return session

    def page(request: Request, session: WebSession, name: str, **context: Any) -> Response:
        agency_id = session.user.agency_id or ""
        status = int(context.pop("status", 200))
        return web.render(
            name,
            status=status,
            user=session.user,
            csrf_token=session.csrf_token,
            nav=NAV,
            path=request.url.path,
            brand=panel.brand_of(rebill.uow, agency_id),
            saved=SAVED.get(request.query_params.get("saved", "")),
            **context,
        )

    def must(session: WebSession, area: str) -> None:
        if not session.user.may_write(area):
            raise PageError(403, f"your role ({session.user.role}) may not change {area}")

    def actor(session: WebSession) -> str:
        return f"{session.user.email} ({session.user.role})"

    @router.get("")
    def home(request: Request) -> Response:
        session = staff(request)
        data = panel.agency_home(rebill.uow, session.user.agency_id or "", rebill.clock.now())
        return page(request, session, "panel/home.html", home=data)

    @router.get("/gateway")
    def gateway(request: Request) -> Response:
        session = staff(request)
        return gateway_page(request, session, None)

    def gateway_page(request: Request, session: WebSession, error: str | None) -> Response:
        agency_id = session.user.agency_id or ""
        configured = rebill.gateway.gateway is not None
        try:
            status = gateway_status(rebill.uow, rebill.gateway, agency_id)
        except GatewayError as exc:
            status = {"provider": None, "account": None, "charges_enabled": False}
            status["tax"] = {"mode": "stripe", "fixes": [], "missing_fields": ["stripe_account"]}
            error = error or exc.message
        tax = status["tax"]
        return page(
            request,
            session,
            "panel/gateway.html",
            status=422 if error else 200,
            gateway=status,
            configured=configured,
            tax=tax,
            items=checklist(tax, configured),
            error=error,
        )

    @router.post("/gateway")
    async def post_gateway(request: Request) -> Response:
        """The manual gateway only. A Stripe account is linked through onboarding or OAuth,
        which prove the agency holds it; linking an account by its id is the platform's."""
        session = staff(request)
        form = await web.form(request, session)
        must(session, "settings")
        if form.get("provider", "") != MANUAL or form.get("account", "").strip():
            raise PageError(
                403,
                "a Stripe account is linked by creating one or by connecting your own "
                "(Gateway & tax); linking an account by its id is the platform's to do",
            )
        try:
            link_gateway(
                rebill.uow,
                rebill.gateway,
                session.user.agency_id or "",
                MANUAL,
                None,
                rebill.clock.now(),
            )
        except BillingError as exc:
            return gateway_page(request, session, exc.message)
        return RedirectResponse("/panel/gateway?saved=gateway", 303)

    @router.post("/gateway/onboard")
    async def post_onboard(request: Request) -> Response:
        """A new Stripe account for the agency, and off to Stripe to finish onboarding."""
        session = staff(request)
        form = await web.form(request, session)
        must(session, "settings")
        try:
            started = onboard(
                rebill.uow,
                rebill.gateway,
                session.user.agency_id or "",
                form.get("country", "US").strip().upper(),
                session.user.email,
                rebill.clock.now(),
                session_sha256=session.token_sha256,
            )
        except BillingError as exc:
            return gateway_page(request, session, exc.message)
        return RedirectResponse(str(started["url"]), 303)

    @router.post("/gateway/oauth")
    async def post_oauth(request: Request) -> Response:
        """Off to Stripe to connect the agency's existing Standard account."""
        session = staff(request)
        await web.form(request, session)
        must(session, "settings")
        try:
            url = oauth_url(
                rebill.uow,
                rebill.gateway,
                session.user.agency_id or "",
                rebill.clock.now(),
                session_sha256=session.token_sha256,
            )
        except BillingError as exc:
            return gateway_page(request, session, exc.message)
        return RedirectResponse(url, 303)

    @router.get("/plans")
    def plans(request: Request) -> Response:
        session = staff(request)
        editor = panel.plan_editor(rebill.uow, session.user.agency_id or "", None)
        return page(request, session, "panel/plans.html", editor=editor)

    @router.get("/plans/{plan_id}")
    def plan(request: Request, plan_id: str) -> Response:
        session = staff(request)
        return plan_page(request, session, plan_id, None, {})

    def plan_page(
        request: Request,
        session: WebSession,
        plan_id: str,
        values: dict[str, str] | None,
        errors: dict[str, str],
    ) -> Response:
        try:
            editor = panel.plan_editor(rebill.uow, session.user.agency_id or "", plan_id)
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
            request,
            session,
            "panel/plan.html",
            status=422 if errors else 200,
            editor=editor,
            plan=plan,
            values=shown,
            errors=errors,
        )

    @router.post("/plans/{plan_id}")
    async def post_plan(request: Request, plan_id: str) -> Response:
        session = staff(request)
        form = await web.form(request, session)
        must(session, "settings")
        try:
            panel.save_plan_prices(
                rebill.uow,
                session.user.agency_id or "",
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
            return plan_page(request, session, plan_id, form, errors)
        return RedirectResponse(f"/panel/plans/{plan_id}?saved=plan", 303)

    @router.get("/sub-accounts")
    def sub_accounts(request: Request) -> Response:
        session = staff(request)
        from rebill.services.views.queries import sub_account_documents

        subs = sub_account_documents(
            rebill.uow, session.user.agency_id or "", None, rebill.clock.now()
        )
        return page(request, session, "panel/sub_accounts.html", subs=subs)

    def sub_page(
        request: Request,
        session: WebSession,
        sub_id: str,
        errors: dict[str, str] | None = None,
    ) -> Response:
        try:
            view = panel.sub_account_view(
                rebill.uow,
                session.user.agency_id or "",
                sub_id,
                _period(request.query_params.get("period")),
                rebill.clock.now(),
            )
        except NotFoundError:
            raise PageError(404, "this sub-account does not exist") from None
        included = view["included_minutes"] if view["chart_period"] == view["period"] else None
        return page(
            request,
            session,
            "panel/sub_account.html",
            status=422 if errors else 200,
            sub=view,
            chart=chart(view["chart"], included),
            errors=errors or {},
        )

    @router.get("/sub-accounts/{sub_id}")
    def sub_account(request: Request, sub_id: str) -> Response:
        return sub_page(request, staff(request), sub_id)

    @router.post("/sub-accounts/{sub_id}/caps")
    async def post_caps(request: Request, sub_id: str) -> Response:
        session = staff(request)
        form = await web.form(request, session)
        must(session, "settings")
        try:
            panel.update_caps(
                rebill.uow,
                session.user.agency_id or "",
                sub_id,
                form,
                actor(session),
                rebill.clock.now(),
            )
        except NotFoundError:
            raise PageError(404, "this sub-account does not exist") from None
        except ValidationError as exc:
            return sub_page(request, session, sub_id, {"caps": exc.summary, **_msgs(exc)})
        return RedirectResponse(f"/panel/sub-accounts/{sub_id}?saved=caps", 303)

    @router.post("/sub-accounts/{sub_id}/credits")
    async def post_credits(request: Request, sub_id: str) -> Response:
        session = staff(request)
        form = await web.form(request, session)
        must(session, "billing")
        agency_id = session.user.agency_id or ""
        try:
            billing.add_credits(
                rebill.uow,
                agency_id,
                sub_id,
                form.get("amount", "").strip(),
                rebill.clock.now(),
                f"panel:{secrets.token_hex(8)}",
            )
        except NotFoundError:
            raise PageError(404, "this sub-account does not exist") from None
        except ValidationError as exc:
            return sub_page(request, session, sub_id, {"credits": exc.summary, **_msgs(exc)})
        return RedirectResponse(f"/panel/sub-accounts/{sub_id}?saved=credits", 303)

    @router.get("/invoices")
    def invoices(request: Request) -> Response:
        session = staff(request)
        return invoices_page(request, session, None)

    def invoices_page(request: Request, session: WebSession, error: str | None) -> Response:
        agency_id = session.user.agency_id or ""
        period = _period(request.query_params.get("period"))
        documents = [
            d
            for d in reports.list_invoices(rebill.uow, agency_id, period)
            if d["agency"] == agency_id
        ]
        now = rebill.clock.now()
        with rebill.uow() as uow:
            tenant = uow.for_agency(agency_id)
            agency = tenant.agency.get()
            closed = tenant.periods.closed()
        assert agency is not None
        last = Period.containing(now, agency.tz).previous()
        return page(
            request,
            session,
            "panel/invoices.html",
            status=409 if error else 200,
            invoices=sorted(documents, key=lambda d: d["number"], reverse=True),
            closable=str(last) if str(last) not in closed else None,
            closed=sorted(closed, reverse=True),
            error=error,
        )

    @router.post("/periods/close")
    async def post_close(request: Request) -> Response:
        session = staff(request)
        form = await web.form(request, session)
        must(session, "billing")
        period = _period(form.get("period"))
        if period is None:
            raise PageError(400, "name the period to close")
        try:
            close_period(
                rebill.uow,
                period,
                [session.user.agency_id or ""],
                rebill.clock.now(),
                rebill.gateway,
            )
        except BillingError as exc:
            return invoices_page(request, session, exc.message)
        return RedirectResponse("/panel/invoices?saved=close", 303)

    @router.post("/invoices/{number}/charge")
    async def post_charge(request: Request, number: str) -> Response:
        session = staff(request)
        await web.form(request, session)
        must(session, "billing")
        try:
            document = charge_invoice(
                rebill.uow, rebill.gateway, session.user.agency_id or "", number, rebill.clock.now()
            )
        except NotFoundError:
            raise PageError(404, "this invoice does not exist") from None
        except BillingError as exc:
            return invoices_page(request, session, exc.message)
        if document["status"] != "paid":
            last = document["attempts"][-1]
            return invoices_page(
                request,
                session,
                f"{number}: payment {last['status'].replace('_', ' ')} ({last['code']}): "
                f"{last['message']}. The invoice stays open.",
            )
        return RedirectResponse("/panel/invoices?saved=charged", 303)

    @router.post("/invoices/{number}/refund")
    async def post_refund(request: Request, number: str) -> Response:
        session = staff(request)
        form = await web.form(request, session)
        must(session, "billing")
        try:
            refund_invoice(
                rebill.uow,
                rebill.gateway,
                session.user.agency_id or "",
                number,
                form.get("amount", "").strip() or None,
                rebill.clock.now(),
            )
        except NotFoundError:
            raise PageError(404, "this invoice does not exist") from None
        except BillingError as exc:
            message = exc.message
            if isinstance(exc, ValidationError):
                message = "; ".join(e.message for e in exc.field_errors) or exc.summary
            return invoices_page(request, session, f"{number}: {message}")
        return RedirectResponse("/panel/invoices?saved=refunded", 303)

    @router.get("/invoices/{number}.pdf")
    def invoice_file(request: Request, number: str) -> Response:
        session = staff(request)
        try:
            pdf = invoice_pdf(rebill.uow, rebill.renderer, number, session.user.agency_id)
        except NotFoundError:
            raise PageError(404, "this invoice does not exist") from None
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{number}.pdf"'},
        )

    @router.get("/usage.csv")
    def usage_csv(request: Request) -> Response:
        session = staff(request)
        agency_id = session.user.agency_id or ""
        period = _period(request.query_params.get("period"))
        if period is None:
            with rebill.uow() as uow:
                agency = uow.for_agency(agency_id).agency.get()
            assert agency is not None
            period = Period.containing(rebill.clock.now(), agency.tz)
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

    @router.get("/users")
    def users(request: Request) -> Response:
        session = staff(request)
        return users_page(request, session, {})

    def users_page(request: Request, session: WebSession, errors: dict[str, str]) -> Response:
        agency_id = session.user.agency_id or ""
        with rebill.uow() as uow:
            subs = uow.for_agency(agency_id).sub_accounts.ids()
        return page(
            request,
            session,
            "panel/users.html",
            status=422 if errors else 200,
            users=list_users(rebill.uow, agency_id),
            subs=subs,
            errors=errors,
        )

    @router.post("/users")
    async def post_user(request: Request) -> Response:
        session = staff(request)
        form = await web.form(request, session)
        if session.user.role != "admin":
            raise PageError(403, "only an agency admin may add users")
        role = form.get("role", "")
        try:
            # Off the event loop: the password's hash takes a hashing slot for half a second.
            await run_in_threadpool(
                create_user,
                rebill.uow,
                rebill.passwords,
                form.get("email", ""),
                form.get("password", ""),
                role,
                session.user.agency_id,
                (form.get("sub_account") or None) if role == "client" else None,
                rebill.clock.now(),
            )
        except NotFoundError:
            return users_page(request, session, {"sub_account": "no such sub-account"})
        except BillingError as exc:
            return users_page(request, session, {"form": exc.message, **_msgs(exc)})
        return RedirectResponse("/panel/users?saved=user", 303)

    @router.get("/brand")
    def brand(request: Request) -> Response:
        session = staff(request)
        return brand_page(request, session, None, {})

    def brand_page(
        request: Request,
        session: WebSession,
        values: dict[str, str] | None,
        errors: dict[str, str],
    ) -> Response:
        editor = panel.brand_editor(rebill.uow, session.user.agency_id or "")
        return page(
            request,
            session,
            "panel/brand.html",
            status=422 if errors else 200,
            editor=editor,
            values=values or editor["values"],
            errors=errors,
            logo_kib=logo_bytes_max // 1024,
        )

    @router.post("/brand")
    async def post_brand(request: Request) -> Response:
        """The display brand; the logo comes as an uploaded file (multipart), never a path."""
        session = staff(request)
        form = await web.form(request, session)
        must(session, "settings")
        upload = (await request.form()).get("logo")
        logo = None
        if isinstance(upload, StarletteUploadFile) and upload.filename:
            logo = await upload.read(logo_bytes_max + 1)
        try:
            panel.save_brand(
                rebill.uow,
                session.user.agency_id or "",
                form,
                logo,
                actor(session),
                rebill.clock.now(),
            )
        except BillingError as exc:
            found = {k.rsplit(".", 1)[-1]: m for k, m in _msgs(exc).items()}  # brand.logo -> logo
            summary = "The brand was not saved." if found else exc.message
            return brand_page(request, session, form, {"form": summary, **found})
        return RedirectResponse("/panel/brand?saved=brand", 303)

    @router.post("/brand/domain")
    async def post_domain(request: Request) -> Response:
        session = staff(request)
        form = await web.form(request, session)
        must(session, "settings")
        try:
            domains.request_domain(
                rebill.uow,
                session.user.agency_id or "",
                form.get("domain", ""),
                domains.PlatformHosts(rebill.settings.own_hosts()),
                rebill.clock.now(),
            )
        except BillingError as exc:
            return brand_page(request, session, None, {"domain": exc.message})
        return RedirectResponse("/panel/brand?saved=domain", 303)

    @router.post("/brand/domain/verify")
    async def post_verify(request: Request) -> Response:
        session = staff(request)
        form = await web.form(request, session)
        must(session, "settings")
        try:
            await run_in_threadpool(
                domains.verify_domain,
                rebill.uow,
                rebill.dns(),
                session.user.agency_id or "",
                form.get("domain", ""),
                rebill.clock.now(),
            )
        except BillingError as exc:
            return brand_page(request, session, None, {"domain": exc.message})
        return RedirectResponse("/panel/brand?saved=verified", 303)

    @router.get("/audit")
    def audit(request: Request) -> Response:
        session = staff(request)
        entries = panel.audit_log(rebill.uow, session.user.agency_id or "")
        return page(request, session, "panel/audit.html", entries=entries)

    return router


def _msgs(exc: BillingError) -> dict[str, str]:
    return field_messages(exc.field_errors) if isinstance(exc, ValidationError) else {}
