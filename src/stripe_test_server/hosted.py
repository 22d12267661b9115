"""The test-only side of the server: the pages Stripe would host (Checkout, Connect
onboarding, OAuth authorization, 3-D Secure, receipts), and the `/_test/` control endpoints
(injected failures, the webhook target, event resends, the request log). They take plain
forms, need no API key, and answer HTML to a browser or JSON to `Accept: application/json`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode

from stripe_test_server import pages, replies
from stripe_test_server.errors import ApiError, no_such
from stripe_test_server.values import Obj

if TYPE_CHECKING:
    from stripe_test_server.server import StripeTestServer

REQUEST_LOG_SHOWN_MAX = 200


@dataclass(frozen=True)
class _Call:
    """One test-only request: what a handler needs of it."""

    request: BaseHTTPRequestHandler
    method: str
    form: Obj
    wants_json: bool


HostedHandler = Callable[[_Call, str], None]


def is_hosted(path: str) -> bool:
    return path.startswith("/_test/") or path == "/oauth/authorize"


class Hosted:
    def __init__(self, server: StripeTestServer) -> None:
        self.server = server
        self.state = server.state
        self.engine = server.engine
        # (method or None for any, path pattern, handler of the path's one group or "")
        table: list[tuple[str | None, str, HostedHandler]] = [
            ("GET", r"/oauth/authorize()", self._oauth_authorize),
            (None, r"/_test/checkout/([^/]*)", self._checkout_page),
            (None, r"/_test/checkout/([^/]*)/complete", self._checkout_complete),
            (None, r"/_test/connect/onboarding/([^/]*)", self._onboarding),
            (None, r"/_test/accounts/([^/]*)/complete_onboarding", self._complete_onboarding),
            (None, r"/_test/3ds/([^/]*)", self._three_d_secure),
            (None, r"/_test/receipts/([^/]*)", self._receipt),
            ("POST", r"/_test/failures()", self._failures),
            ("POST", r"/_test/webhook()", self._webhook),
            (None, r"/_test/events/([^/]*)/resend", self._resend),
            (None, r"/_test/requests()", self._requests),
        ]
        self.routes = [(m, re.compile(f"^{p}$"), handler) for m, p, handler in table]

    def serve(
        self, request: BaseHTTPRequestHandler, method: str, path: str, query: str, body: str
    ) -> None:
        form: Obj = dict(parse_qsl(query, keep_blank_values=True))
        if body:
            form.update(dict(parse_qsl(body, keep_blank_values=True)))
        wants_json = "application/json" in (request.headers.get("Accept") or "")
        call = _Call(request, method, form, wants_json)
        try:
            with self.state.lock:
                for route_method, pattern, handler in self.routes:
                    match = pattern.match(path)
                    if match and route_method in (None, method):
                        handler(call, match.group(1))
                        return
            raise no_such("test endpoint", path)
        except ApiError as error:
            if wants_json or not path.startswith("/_test/checkout"):
                replies.send_json(request, error.status, error.body())
            else:
                replies.send_html(
                    request, error.status, pages.result_page("Payment failed", error.message, False)
                )

    # -- hosted pages ----------------------------------------------------------------------
    def _oauth_authorize(self, call: _Call, _: str) -> None:
        form = call.form
        code = self.engine.oauth.create_oauth_code(
            None, country=str(form.get("stripe_user[country]") or "US")
        )
        redirect_uri = form.get("redirect_uri")
        if not redirect_uri:
            replies.send_json(call.request, 200, {"code": code})
            return
        query = {"code": code, "scope": form.get("scope") or "read_write"}
        if form.get("state"):
            query["state"] = form["state"]
        separator = "&" if "?" in redirect_uri else "?"
        replies.redirect(call.request, f"{redirect_uri}{separator}{urlencode(query)}")

    def _checkout_page(self, call: _Call, session_id: str) -> None:
        account = self.state.session_account(session_id)
        if account is None:
            raise no_such("checkout.session", session_id)
        ctx = self.state.ctx_of(account)
        sessions = self.engine.checkout_sessions
        session = sessions.retrieve_checkout_session(ctx, session_id)
        location = self.engine.checkout_pricing.tax_location(ctx, session)
        head = self.state.data(account).tax_settings.get("head_office") or {}
        country = (
            location.country if location else ((head.get("address") or {}).get("country") or "")
        )
        items = sessions.session_line_items(ctx, session_id, {"limit": 100})["data"]
        replies.send_html(call.request, 200, pages.checkout_page(session, items, country))

    def _checkout_complete(self, call: _Call, session_id: str) -> None:
        form = call.form
        session = self.engine.checkout_sessions.complete_checkout(
            session_id,
            payment_method=form.get("payment_method") or "pm_card_visa",
            country=form.get("country") or None,
            state=form.get("state") or None,
            email=form.get("email") or None,
        )
        if call.wants_json:
            replies.send_json(call.request, 200, session)
        elif session.get("success_url"):
            target = str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session_id)
            replies.redirect(call.request, target)
        else:
            paid = pages.money(session["amount_total"], session["currency"])
            replies.send_html(
                call.request, 200, pages.result_page("Payment complete", f"Paid {paid}.", True)
            )

    def _onboarding(self, call: _Call, token: str) -> None:
        target, account = self.engine.accounts.visit_account_link(token)
        if account is None:
            page = pages.result_page("Onboarding", "This onboarding link does not exist.", False)
            replies.send_html(call.request, 404, page)
        elif target:
            replies.redirect(call.request, target)
        else:
            page = pages.result_page("Onboarding", f"Account {account['id']} is onboarded.", True)
            replies.send_html(call.request, 200, page)

    def _three_d_secure(self, call: _Call, pi_id: str) -> None:
        account = self.state.payment_intent_accounts.get(pi_id)
        if account is None:
            raise no_such("payment_intent", pi_id)
        pi = self.state.data(account).objects[pi_id]
        if call.method == "GET":
            replies.send_html(call.request, 200, pages.three_d_secure_page(pi))
            return
        success = call.form.get("result", "succeed") != "fail"
        result = self.engine.payment_intents.authenticate(pi_id, success)
        return_url = ((result.get("next_action") or {}).get("redirect_to_url") or {}).get(
            "return_url"
        )
        if call.wants_json or not return_url:
            replies.send_json(call.request, 200, result)
        else:
            replies.redirect(call.request, f"{return_url}?payment_intent={pi_id}")

    def _receipt(self, call: _Call, pi_id: str) -> None:
        owner = self.state.payment_intent_accounts.get(pi_id)
        if owner is None:
            raise no_such("payment_intent", pi_id)
        pi = self.state.data(owner).objects[pi_id]
        charge = self.state.data(owner).objects.get(pi["latest_charge"] or "")
        replies.send_html(call.request, 200, pages.receipt_page(pi, charge))

    # -- controls --------------------------------------------------------------------------
    def _complete_onboarding(self, call: _Call, account_id: str) -> None:
        replies.send_json(call.request, 200, self.engine.accounts.complete_onboarding(account_id))

    def _failures(self, call: _Call, _: str) -> None:
        form = call.form
        count = int(form.get("count", 1))
        self.server.inject_failures(
            form.get("kind", "500"),
            count,
            form.get("path_prefix") or None,
            float(form.get("delay", 3.0)),
        )
        replies.send_json(call.request, 200, {"queued": len(self.state.failures)})

    def _webhook(self, call: _Call, _: str) -> None:
        self.server.set_webhook(call.form.get("url") or None, call.form.get("secret") or None)
        replies.send_json(call.request, 200, {"url": self.server.webhooks.url})

    def _resend(self, call: _Call, event_id: str) -> None:
        if event_id not in self.state.events:
            raise no_such("event", event_id)
        replies.send_json(call.request, 200, {"queued": self.server.resend_event(event_id)})

    def _requests(self, call: _Call, _: str) -> None:
        log = self.state.request_log[-REQUEST_LOG_SHOWN_MAX:]
        replies.send_json(call.request, 200, {"data": log})
