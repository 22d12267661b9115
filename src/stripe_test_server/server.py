"""The HTTP side of the Stripe test server: authentication (any `sk_test_` key), the
`Stripe-Account` header, form-encoded parameters checked against the SDK's types, idempotency
keys, injected failures, routing to the engine, and the test-only pages and endpoints."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from stripe_test_server import pages
from stripe_test_server.errors import ApiError, invalid_request, no_such
from stripe_test_server.forms import decode
from stripe_test_server.params import ParamChecker
from stripe_test_server.state import (
    Ctx,
    Failure,
    IdempotentResult,
    OAuthError,
    Obj,
    State,
    new_id,
)
from stripe_test_server.webhooks import (
    DEFAULT_RETRY_DELAYS,
    Delivery,
    WebhookDispatcher,
    sign,
)

log = logging.getLogger(__name__)

DEFAULT_WEBHOOK_SECRET = "whsec_test_rebill_stripe_test_server"
DEFAULT_API_VERSION = "2025-09-30.clover"
_KEY = re.compile(r"^(sk|rk)_test_[A-Za-z0-9_]+$")

Handler = Callable[..., Obj]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    params: tuple[str, ...] | None


def _routes(state: State) -> list[Route]:
    s = state
    table: list[tuple[str, str, Handler, tuple[str, ...] | None]] = [
        (
            "GET",
            r"/v1/account",
            lambda c, p: s.retrieve_account(c, None),
            ("params.AccountRetrieveParams",),
        ),
        ("GET", r"/v1/accounts", s.list_accounts, ("params.AccountListParams",)),
        (
            "POST",
            r"/v1/accounts",
            s.create_account,
            ("params.AccountCreateParams", "Account.CreateParams"),
        ),
        (
            "GET",
            r"/v1/accounts/([^/]+)",
            lambda c, p, a: s.retrieve_account(c, a),
            ("params.AccountRetrieveParams", "Account.RetrieveParams"),
        ),
        (
            "POST",
            r"/v1/accounts/([^/]+)",
            lambda c, p, a: s.update_account(c, a, p),
            ("params.AccountUpdateParams", "Account.ModifyParams"),
        ),
        (
            "POST",
            r"/v1/account_links",
            s.create_account_link,
            ("params.AccountLinkCreateParams", "AccountLink.CreateParams"),
        ),
        (
            "POST",
            r"/v1/customers",
            s.create_customer,
            ("params.CustomerCreateParams", "Customer.CreateParams"),
        ),
        (
            "GET",
            r"/v1/customers",
            s.list_customers,
            ("params.CustomerListParams", "Customer.ListParams"),
        ),
        (
            "GET",
            r"/v1/customers/([^/]+)",
            lambda c, p, i: s.retrieve_customer(c, i),
            ("params.CustomerRetrieveParams", "Customer.RetrieveParams"),
        ),
        (
            "POST",
            r"/v1/customers/([^/]+)",
            lambda c, p, i: s.update_customer(c, i, p),
            ("params.CustomerUpdateParams", "params.CustomerModifyParams", "Customer.ModifyParams"),
        ),
        ("DELETE", r"/v1/customers/([^/]+)", lambda c, p, i: s.delete_customer(c, i), None),
        (
            "GET",
            r"/v1/customers/([^/]+)/payment_methods",
            s.list_payment_methods,
            ("params.CustomerListPaymentMethodsParams", "Customer.ListPaymentMethodsParams"),
        ),
        (
            "POST",
            r"/v1/payment_methods",
            s.create_payment_method,
            ("params.PaymentMethodCreateParams", "PaymentMethod.CreateParams"),
        ),
        (
            "GET",
            r"/v1/payment_methods",
            s.list_payment_methods,
            ("params.PaymentMethodListParams", "PaymentMethod.ListParams"),
        ),
        (
            "GET",
            r"/v1/payment_methods/([^/]+)",
            lambda c, p, i: s.retrieve_payment_method(c, i),
            ("params.PaymentMethodRetrieveParams", "PaymentMethod.RetrieveParams"),
        ),
        (
            "POST",
            r"/v1/payment_methods/([^/]+)/attach",
            lambda c, p, i: s.attach_payment_method(c, i, p),
            ("params.PaymentMethodAttachParams", "PaymentMethod.AttachParams"),
        ),
        (
            "POST",
            r"/v1/payment_methods/([^/]+)/detach",
            lambda c, p, i: s.detach_payment_method(c, i),
            ("params.PaymentMethodDetachParams", "PaymentMethod.DetachParams"),
        ),
        (
            "POST",
            r"/v1/payment_intents",
            s.create_payment_intent,
            ("params.PaymentIntentCreateParams", "PaymentIntent.CreateParams"),
        ),
        (
            "GET",
            r"/v1/payment_intents",
            s.list_payment_intents,
            ("params.PaymentIntentListParams", "PaymentIntent.ListParams"),
        ),
        (
            "GET",
            r"/v1/payment_intents/([^/]+)",
            lambda c, p, i: s.retrieve_payment_intent(c, i),
            ("params.PaymentIntentRetrieveParams", "PaymentIntent.RetrieveParams"),
        ),
        (
            "POST",
            r"/v1/payment_intents/([^/]+)",
            lambda c, p, i: s.update_payment_intent(c, i, p),
            (
                "params.PaymentIntentUpdateParams",
                "params.PaymentIntentModifyParams",
                "PaymentIntent.ModifyParams",
            ),
        ),
        (
            "POST",
            r"/v1/payment_intents/([^/]+)/confirm",
            lambda c, p, i: s.confirm_payment_intent(c, i, p),
            ("params.PaymentIntentConfirmParams", "PaymentIntent.ConfirmParams"),
        ),
        (
            "POST",
            r"/v1/payment_intents/([^/]+)/cancel",
            lambda c, p, i: s.cancel_payment_intent(c, i, p),
            ("params.PaymentIntentCancelParams", "PaymentIntent.CancelParams"),
        ),
        (
            "GET",
            r"/v1/charges/([^/]+)",
            lambda c, p, i: s.retrieve_charge(c, i),
            ("params.ChargeRetrieveParams", "Charge.RetrieveParams"),
        ),
        (
            "POST",
            r"/v1/refunds",
            s.create_refund,
            ("params.RefundCreateParams", "Refund.CreateParams"),
        ),
        ("GET", r"/v1/refunds", s.list_refunds, ("params.RefundListParams", "Refund.ListParams")),
        (
            "GET",
            r"/v1/refunds/([^/]+)",
            lambda c, p, i: s.retrieve_refund(c, i),
            ("params.RefundRetrieveParams", "Refund.RetrieveParams"),
        ),
        (
            "POST",
            r"/v1/checkout/sessions",
            s.create_checkout_session,
            ("params.checkout.SessionCreateParams", "checkout.Session.CreateParams"),
        ),
        (
            "GET",
            r"/v1/checkout/sessions",
            s.list_checkout_sessions,
            ("params.checkout.SessionListParams", "checkout.Session.ListParams"),
        ),
        (
            "GET",
            r"/v1/checkout/sessions/([^/]+)",
            lambda c, p, i: s.retrieve_checkout_session(c, i),
            ("params.checkout.SessionRetrieveParams", "checkout.Session.RetrieveParams"),
        ),
        (
            "GET",
            r"/v1/checkout/sessions/([^/]+)/line_items",
            lambda c, p, i: s.session_line_items(c, i, p),
            ("params.checkout.SessionListLineItemsParams", "checkout.Session.ListLineItemsParams"),
        ),
        (
            "POST",
            r"/v1/checkout/sessions/([^/]+)/expire",
            lambda c, p, i: s.expire_checkout_session(c, i),
            ("params.checkout.SessionExpireParams", "checkout.Session.ExpireParams"),
        ),
        (
            "GET",
            r"/v1/tax/settings",
            lambda c, p: s.retrieve_tax_settings(c),
            ("params.tax.SettingsRetrieveParams", "tax.Settings.RetrieveParams"),
        ),
        (
            "POST",
            r"/v1/tax/settings",
            s.update_tax_settings,
            (
                "params.tax.SettingsModifyParams",
                "params.tax.SettingsUpdateParams",
                "tax.Settings.ModifyParams",
            ),
        ),
        (
            "POST",
            r"/v1/tax/registrations",
            s.create_tax_registration,
            ("params.tax.RegistrationCreateParams", "tax.Registration.CreateParams"),
        ),
        (
            "GET",
            r"/v1/tax/registrations",
            s.list_tax_registrations,
            ("params.tax.RegistrationListParams", "tax.Registration.ListParams"),
        ),
        (
            "GET",
            r"/v1/tax/registrations/([^/]+)",
            lambda c, p, i: s.retrieve_tax_registration(c, i),
            ("params.tax.RegistrationRetrieveParams", "tax.Registration.RetrieveParams"),
        ),
        (
            "POST",
            r"/v1/tax/registrations/([^/]+)",
            lambda c, p, i: s.update_tax_registration(c, i, p),
            (
                "params.tax.RegistrationModifyParams",
                "params.tax.RegistrationUpdateParams",
                "tax.Registration.ModifyParams",
            ),
        ),
        (
            "POST",
            r"/v1/tax/calculations",
            s.create_tax_calculation,
            ("params.tax.CalculationCreateParams", "tax.Calculation.CreateParams"),
        ),
        ("GET", r"/v1/events", s.list_events, ("params.EventListParams", "Event.ListParams")),
        (
            "GET",
            r"/v1/events/([^/]+)",
            lambda c, p, i: s.retrieve_event(c, i),
            ("params.EventRetrieveParams", "Event.RetrieveParams"),
        ),
        ("POST", r"/oauth/token", lambda c, p: s.oauth_token(p), ("OAuth.OAuthTokenParams",)),
        ("POST", r"/oauth/deauthorize", s.oauth_deauthorize, ("OAuth.OAuthDeauthorizeParams",)),
    ]
    return [
        Route(method, re.compile(f"^{pattern}$"), handler, types)
        for method, pattern, handler, types in table
    ]


def _mask(key: str) -> str:
    return key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else key


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("stripe test server: " + format, *args)

    def do_GET(self) -> None:
        self.server.owner.handle(self, "GET")

    def do_POST(self) -> None:
        self.server.owner.handle(self, "POST")

    def do_DELETE(self) -> None:
        self.server.owner.handle(self, "DELETE")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: StripeTestServer) -> None:
        self.owner = owner
        super().__init__(address, _Handler)


class StripeTestServer:
    """A stateful Stripe look-alike on 127.0.0.1 for tests and the demo.

    Use `start()`/`stop()` (or `with`), point the SDK at `url` (both the `api` and `connect`
    base addresses), and drive the test-only steps with the helpers below."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_url: str | None = None,
        webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
        *,
        platform_country: str = "US",
        default_tax_country: str | None = None,
        webhook_retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
        check_params: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.checker = ParamChecker() if check_params else None
        self.api_version = DEFAULT_API_VERSION
        if self.checker is not None and self.checker.enabled:
            import stripe

            self.api_version = str(getattr(stripe, "api_version", None) or DEFAULT_API_VERSION)
        self.webhooks = WebhookDispatcher(webhook_url, webhook_secret, webhook_retry_delays)
        self.state = State(
            lambda: self.url,
            self.webhooks.enqueue,
            platform_country=platform_country,
            default_tax_country=default_tax_country,
            api_version=self.api_version,
        )
        self.routes = _routes(self.state)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _bind(self) -> _HTTPServer:
        httpd = _HTTPServer((self.host, self.port), self)
        self.port = int(httpd.server_address[1])
        self._httpd = httpd
        return httpd

    def start(self) -> StripeTestServer:
        httpd = self._bind()
        self.webhooks.start()
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="stripe-test-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread (binding first unless already bound)."""
        httpd = self._httpd or self._bind()
        self.webhooks.start()
        try:
            httpd.serve_forever(poll_interval=0.2)
        finally:
            self.webhooks.stop()
            httpd.server_close()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        self.webhooks.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> StripeTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test helpers ----------------------------------------------------------------------
    @property
    def platform_account_id(self) -> str:
        return self.state.platform_id

    @property
    def webhook_secret(self) -> str:
        return self.webhooks.secret

    def set_webhook(self, url: str | None, secret: str | None = None) -> None:
        """Where events go (all of them: the platform's and connected accounts', the latter
        carrying `account`), and the `whsec_` secret that signs them."""
        self.webhooks.configure(url, secret)

    def inject_failures(
        self,
        kind: int | str,
        count: int = 1,
        path_prefix: str | None = None,
        delay: float = 3.0,
    ) -> None:
        """Answer the next `count` API requests (whose path starts with `path_prefix`, if
        given) with HTTP `kind` (429, 500, 503...) before doing anything, or with
        `"timeout"`: hold the request `delay` seconds and drop the connection unanswered.
        Nothing is executed and no idempotency result is kept for those requests."""
        kind = str(kind)
        if kind != "timeout" and not kind.isdigit():
            raise ValueError("kind must be an HTTP status such as 429 or 500, or 'timeout'")
        with self.state.lock:
            self.state.failures.extend(Failure(kind, path_prefix, delay) for _ in range(count))

    def clear_failures(self) -> None:
        with self.state.lock:
            self.state.failures.clear()

    def complete_checkout(
        self,
        session_id: str,
        account: str | None = None,
        payment_method: str = "pm_card_visa",
        *,
        country: str | None = None,
        state: str | None = None,
        email: str | None = None,
    ) -> Obj:
        """The customer pays on the hosted page: see `State.complete_checkout`. Raises
        ApiError (card_error) on a declined card."""
        with self.state.lock:
            owner = self.state.session_account(session_id)
            if owner is None or (account is not None and owner != account):
                raise no_such("checkout.session", session_id)
            session = self.state.complete_checkout(
                session_id,
                payment_method=payment_method,
                country=country,
                state=state,
                email=email,
            )
            return json.loads(json.dumps(session))  # type: ignore[no-any-return]

    def complete_onboarding(self, account_id: str) -> Obj:
        with self.state.lock:
            return json.loads(json.dumps(self.state.complete_onboarding(account_id)))  # type: ignore[no-any-return]

    def authenticate_payment(self, payment_intent_id: str, success: bool = True) -> Obj:
        with self.state.lock:
            return json.loads(json.dumps(self.state.authenticate(payment_intent_id, success)))  # type: ignore[no-any-return]

    def create_oauth_code(self, account_id: str | None = None, country: str = "US") -> str:
        """A code for `/oauth/token`: for an existing (onboarded) Standard account that is not
        yet connected, created here unless account_id is given."""
        with self.state.lock:
            return self.state.create_oauth_code(account_id, country=country)

    def events(self, type: str | None = None, account: str | None = None) -> list[Obj]:
        with self.state.lock:
            return [
                json.loads(json.dumps(e))
                for e in self.state.events.values()
                if (type is None or e["type"] == type)
                and (account is None or e.get("account", self.state.platform_id) == account)
            ]

    @property
    def deliveries(self) -> list[Delivery]:
        return list(self.webhooks.deliveries)

    @property
    def requests(self) -> list[Obj]:
        with self.state.lock:
            return list(self.state.request_log)

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        return self.webhooks.wait_idle(timeout)

    def resend_event(self, event_id: str) -> bool:
        with self.state.lock:
            event = self.state.events[event_id]
        return self.webhooks.enqueue(event)

    def sign(
        self, payload: bytes | str, timestamp: int | None = None, secret: str | None = None
    ) -> str:
        return sign(payload, secret or self.webhooks.secret, timestamp)

    # -- request handling ------------------------------------------------------------------
    def handle(self, request: _Handler, method: str) -> None:
        parts = urlsplit(request.path)
        path = parts.path.rstrip("/") or "/"
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length).decode("utf-8", "replace") if length else ""
        try:
            if path.startswith("/_test/") or path == "/oauth/authorize":
                self._test_route(request, method, path, parts.query, body)
                return
            failure = self._take_failure(path)
            if failure is not None:
                self._fail(request, method, path, failure)
                return
            self._api(request, method, path, parts.query, body)
        except Exception:  # pragma: no cover - a bug in the test server itself
            log.exception("stripe test server: error handling %s %s", method, path)
            self._send_json(
                request,
                500,
                {
                    "error": {
                        "type": "api_error",
                        "message": "The Stripe test server failed (see its log).",
                    }
                },
            )

    def _take_failure(self, path: str) -> Failure | None:
        with self.state.lock:
            for index, failure in enumerate(self.state.failures):
                if failure.path_prefix is None or path.startswith(failure.path_prefix):
                    return self.state.failures.pop(index)
        return None

    def _fail(self, request: _Handler, method: str, path: str, failure: Failure) -> None:
        with self.state.lock:
            self.state.request_log.append(
                {
                    "method": method,
                    "path": path,
                    "account": request.headers.get("Stripe-Account"),
                    "idempotency_key": request.headers.get("Idempotency-Key"),
                    "params": None,
                    "status": failure.kind,
                    "replayed": False,
                    "injected": True,
                }
            )
        if failure.kind == "timeout":
            time.sleep(failure.delay)
            request.close_connection = True
            return
        status = int(failure.kind)
        if status == 429:
            body: Obj = {
                "error": {
                    "type": "invalid_request_error",
                    "code": "rate_limit",
                    "message": "Too many requests hit the API too quickly. We recommend an "
                    "exponential backoff of your requests. (Injected by the test server.)",
                }
            }
        else:
            body = {
                "error": {
                    "type": "api_error",
                    "message": "An unknown error occurred. (Injected by the test server.)",
                }
            }
        self._send_json(request, status, body)

    def _authenticate(self, request: _Handler) -> Ctx:
        header = request.headers.get("Authorization") or ""
        key = ""
        if header.startswith("Bearer "):
            key = header[7:].strip()
        elif header.startswith("Basic "):
            try:
                key = base64.b64decode(header[6:]).decode().split(":", 1)[0]
            except ValueError:
                key = ""
        if not key:
            raise ApiError(
                401,
                "invalid_request_error",
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
                "or we can help at https://support.stripe.com/.",
                saved=False,
            )
        if not _KEY.match(key):
            raise ApiError(
                401,
                "invalid_request_error",
                f"Invalid API Key provided: {_mask(key)}",
                saved=False,
            )
        state = self.state
        # An OAuth access token acts as its connected account; any other test key is the
        # platform's.
        token_account = state.access_tokens.get(key)
        account = request.headers.get("Stripe-Account") or token_account or state.platform_id
        if account != state.platform_id:
            allowed = state.is_connected(account) and (
                token_account is None or token_account == account
            )
            if not allowed:
                raise ApiError(
                    403,
                    "invalid_request_error",
                    f"The provided key '{_mask(key)}' does not have access to account "
                    f"'{account}' (or that account does not exist). Application access may "
                    "have been revoked.",
                    code="account_invalid",
                    saved=False,
                )
        return Ctx(account, account == state.platform_id)

    def _api(self, request: _Handler, method: str, path: str, query: str, body: str) -> None:
        request_id = new_id("req_", 14)
        idempotency_key = request.headers.get("Idempotency-Key") if method == "POST" else None
        params: Obj = decode(query)
        if method == "POST" and body:
            params.update(decode(body))
        record: Obj = {
            "method": method,
            "path": path,
            "account": request.headers.get("Stripe-Account"),
            "idempotency_key": idempotency_key,
            "params": params,
            "status": None,
            "replayed": False,
            "injected": False,
        }
        headers = {"Request-Id": request_id, "Stripe-Version": self.api_version}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        ctx: Ctx | None = None
        with self.state.lock:
            self.state.request_log.append(record)
            try:
                ctx = self._authenticate(request)
                ctx.request_id = request_id
                ctx.idempotency_key = idempotency_key
                route, groups = self._match(method, path)
                if idempotency_key:
                    if len(idempotency_key) > 255:
                        raise invalid_request(
                            "Idempotency keys can be at most 255 characters long.",
                            saved=False,
                        )
                    stored = self.state.data(ctx.account).idempotency.get(idempotency_key)
                    if stored is not None:
                        if (stored.method, stored.path, stored.params) != (method, path, params):
                            raise ApiError(
                                400,
                                "idempotency_error",
                                "Keys for idempotent requests can only be used with the same "
                                "parameters they were first used with. Try using a key other "
                                f"than '{idempotency_key}' if you meant to execute a different "
                                "request.",
                                saved=False,
                            )
                        record["status"] = stored.status
                        record["replayed"] = True
                        replay_headers = dict(
                            stored.headers,
                            **{"Request-Id": request_id, "Idempotent-Replayed": "true"},
                        )
                        self._send(request, stored.status, stored.body, replay_headers)
                        return
                status, payload, saved = self._execute(route, groups, ctx, params)
            except ApiError as error:
                status, payload, saved = error.status, error.body(), False
                headers.update(error.headers)
            encoded = json.dumps(payload, indent=2).encode()
            if idempotency_key and saved and ctx is not None:
                self.state.data(ctx.account).idempotency[idempotency_key] = IdempotentResult(
                    method, path, params, status, encoded, dict(headers)
                )
            record["status"] = status
        self._send(request, status, encoded, headers)

    def _match(self, method: str, path: str) -> tuple[Route, tuple[str, ...]]:
        for route in self.routes:
            if route.method == method:
                match = route.pattern.match(path)
                if match:
                    return route, match.groups()
        raise invalid_request(
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
            "or we can help at https://support.stripe.com/. (This test server covers a subset "
            "of the API.)",
            status=404,
            saved=False,
        )

    def _execute(
        self, route: Route, groups: tuple[str, ...], ctx: Ctx, params: Obj
    ) -> tuple[int, Obj, bool]:
        if self.checker is not None:
            self.checker.check(route.params, params)
        try:
            result = route.handler(ctx, params, *groups)
        except ApiError as error:
            return error.status, error.body(), error.saved
        except OAuthError as error:
            return error.status, error.body(), True
        expand = params.get("expand")
        return 200, self.state.expand(ctx, result, expand or []), True

    # -- test-only routes ------------------------------------------------------------------
    def _test_route(self, request: _Handler, method: str, path: str, query: str, body: str) -> None:
        form: Obj = dict(parse_qsl(query, keep_blank_values=True))
        if body:
            form.update(dict(parse_qsl(body, keep_blank_values=True)))
        wants_json = "application/json" in (request.headers.get("Accept") or "")
        state = self.state
        segments = path.strip("/").split("/")
        try:
            with state.lock:
                if path == "/oauth/authorize" and method == "GET":
                    self._oauth_authorize(request, form)
                    return
                if segments[:2] == ["_test", "checkout"] and len(segments) == 3:
                    self._checkout_page(request, segments[2])
                    return
                if segments[:2] == ["_test", "checkout"] and segments[3:] == ["complete"]:
                    self._checkout_complete(request, segments[2], form, wants_json)
                    return
                if segments[:3] == ["_test", "connect", "onboarding"] and len(segments) == 4:
                    target, account = state.visit_account_link(segments[3])
                    if account is None:
                        self._send_html(
                            request,
                            404,
                            pages.result_page(
                                "Onboarding", "This onboarding link does not exist.", False
                            ),
                        )
                    elif target:
                        self._redirect(request, target)
                    else:
                        self._send_html(
                            request,
                            200,
                            pages.result_page(
                                "Onboarding", f"Account {account['id']} is onboarded.", True
                            ),
                        )
                    return
                if segments[:2] == ["_test", "accounts"] and segments[3:] == [
                    "complete_onboarding"
                ]:
                    self._send_json(request, 200, state.complete_onboarding(segments[2]))
                    return
                if segments[:2] == ["_test", "3ds"] and len(segments) == 3:
                    self._three_d_secure(request, method, segments[2], form, wants_json)
                    return
                if segments[:2] == ["_test", "receipts"] and len(segments) == 3:
                    owner = state.payment_intents.get(segments[2])
                    if owner is None:
                        raise no_such("payment_intent", segments[2])
                    pi = state.data(owner).objects[segments[2]]
                    charge = state.data(owner).objects.get(pi["latest_charge"] or "")
                    self._send_html(request, 200, pages.receipt_page(pi, charge))
                    return
                if path == "/_test/failures" and method == "POST":
                    count = int(form.get("count", 1))
                    self.inject_failures(
                        form.get("kind", "500"),
                        count,
                        form.get("path_prefix") or None,
                        float(form.get("delay", 3.0)),
                    )
                    self._send_json(request, 200, {"queued": len(state.failures)})
                    return
                if path == "/_test/webhook" and method == "POST":
                    self.set_webhook(form.get("url") or None, form.get("secret") or None)
                    self._send_json(request, 200, {"url": self.webhooks.url})
                    return
                if segments[:2] == ["_test", "events"] and segments[3:] == ["resend"]:
                    event_id = segments[2]
                    if event_id not in state.events:
                        raise no_such("event", event_id)
                    self._send_json(request, 200, {"queued": self.resend_event(event_id)})
                    return
                if path == "/_test/requests":
                    self._send_json(request, 200, {"data": state.request_log[-200:]})
                    return
            raise no_such("test endpoint", path)
        except ApiError as error:
            if wants_json or not path.startswith("/_test/checkout"):
                self._send_json(request, error.status, error.body())
            else:
                self._send_html(
                    request, error.status, pages.result_page("Payment failed", error.message, False)
                )

    def _oauth_authorize(self, request: _Handler, form: Obj) -> None:
        code = self.state.create_oauth_code(
            None, country=str(form.get("stripe_user[country]") or "US")
        )
        redirect_uri = form.get("redirect_uri")
        if not redirect_uri:
            self._send_json(request, 200, {"code": code})
            return
        query = {"code": code, "scope": form.get("scope") or "read_write"}
        if form.get("state"):
            query["state"] = form["state"]
        separator = "&" if "?" in redirect_uri else "?"
        self._redirect(request, f"{redirect_uri}{separator}{urlencode(query)}")

    def _checkout_page(self, request: _Handler, session_id: str) -> None:
        state = self.state
        account = state.session_account(session_id)
        if account is None:
            raise no_such("checkout.session", session_id)
        ctx = Ctx(account, account == state.platform_id)
        session = state.retrieve_checkout_session(ctx, session_id)
        location = state.tax_location(ctx, session)
        head = state.data(account).tax_settings.get("head_office") or {}
        country = (
            location.country if location else ((head.get("address") or {}).get("country") or "")
        )
        items = state.session_line_items(ctx, session_id, {"limit": 100})["data"]
        self._send_html(request, 200, pages.checkout_page(session, items, country))

    def _checkout_complete(
        self, request: _Handler, session_id: str, form: Obj, wants_json: bool
    ) -> None:
        session = self.state.complete_checkout(
            session_id,
            payment_method=form.get("payment_method") or "pm_card_visa",
            country=form.get("country") or None,
            state=form.get("state") or None,
            email=form.get("email") or None,
        )
        if wants_json:
            self._send_json(request, 200, session)
        elif session.get("success_url"):
            target = str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session_id)
            self._redirect(request, target)
        else:
            paid = pages.money(session["amount_total"], session["currency"])
            self._send_html(
                request, 200, pages.result_page("Payment complete", f"Paid {paid}.", True)
            )

    def _three_d_secure(
        self, request: _Handler, method: str, pi_id: str, form: Obj, wants_json: bool
    ) -> None:
        account = self.state.payment_intents.get(pi_id)
        if account is None:
            raise no_such("payment_intent", pi_id)
        pi = self.state.data(account).objects[pi_id]
        if method == "GET":
            self._send_html(request, 200, pages.three_d_secure_page(pi))
            return
        result = self.state.authenticate(pi_id, form.get("result", "succeed") != "fail")
        return_url = ((result.get("next_action") or {}).get("redirect_to_url") or {}).get(
            "return_url"
        )
        if wants_json or not return_url:
            self._send_json(request, 200, result)
        else:
            self._redirect(request, f"{return_url}?payment_intent={pi_id}")

    # -- writing answers -------------------------------------------------------------------
    def _send(
        self,
        request: _Handler,
        status: int,
        body: bytes,
        headers: dict[str, str],
        content_type: str = "application/json",
    ) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(body)

    def _send_json(self, request: _Handler, status: int, payload: Obj) -> None:
        self._send(request, status, json.dumps(payload, indent=2).encode(), {})

    def _send_html(self, request: _Handler, status: int, body: bytes) -> None:
        self._send(request, status, body, {}, "text/html; charset=utf-8")

    def _redirect(self, request: _Handler, location: str) -> None:
        body = pages.result_page("Redirecting", "Continue to the next page.", True, location)
        self._send(request, 303, body, {"Location": location}, "text/html; charset=utf-8")


def main(
    host: str = "127.0.0.1",
    port: int = 12111,
    webhook_url: str | None = None,
    webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
) -> None:
    """Run the test server in the foreground until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    server = StripeTestServer(host, port, webhook_url, webhook_secret)
    server._bind()
    print(f"Stripe test server on {server.url} (platform account {server.platform_account_id})")
    print(
        f"  SDK: stripe.StripeClient('sk_test_...', base_addresses={{'api': '{server.url}', "
        f"'connect': '{server.url}'}})"
    )
    print(
        f"  webhooks: {webhook_url or 'none (POST /_test/webhook url=...&secret=...)'}; "
        f"secret {webhook_secret}"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopping")
