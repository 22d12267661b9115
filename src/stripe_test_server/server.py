"""The Stripe test server: an HTTP server on 127.0.0.1 whose requests go to the API side
(`api`) or the test-only side (`hosted`), over one `State` and its `Engine`, with signed
webhooks (`webhooks`); plus the helpers tests use to drive the test-only steps, and `main`."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from stripe_test_server import replies
from stripe_test_server.api import Api
from stripe_test_server.engine import Engine
from stripe_test_server.errors import no_such
from stripe_test_server.hosted import Hosted, is_hosted
from stripe_test_server.params import ParamChecker
from stripe_test_server.state import Failure, State
from stripe_test_server.values import Obj
from stripe_test_server.webhooks import (
    DEFAULT_RETRY_DELAYS,
    Delivery,
    WebhookDispatcher,
    sign,
)

log = logging.getLogger(__name__)

DEFAULT_WEBHOOK_SECRET = "whsec_test_rebill_stripe_test_server"
DEFAULT_API_VERSION = "2025-09-30.clover"


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


def _copy(obj: Obj) -> Obj:
    """A JSON copy of an object of the state, safe to hand out of the lock."""
    return json.loads(json.dumps(obj))  # type: ignore[no-any-return]


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
            default_tax_country=default_tax_country,
            api_version=self.api_version,
        )
        self.engine = Engine(self.state, platform_country=platform_country)
        self.api = Api(self.state, self.engine, self.checker, self.api_version)
        self.hosted = Hosted(self)
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
        """The customer pays on the hosted page: see `CheckoutSessions.complete_checkout`.
        Raises ApiError (card_error) on a declined card."""
        with self.state.lock:
            owner = self.state.session_account(session_id)
            if owner is None or (account is not None and owner != account):
                raise no_such("checkout.session", session_id)
            session = self.engine.checkout_sessions.complete_checkout(
                session_id,
                payment_method=payment_method,
                country=country,
                state=state,
                email=email,
            )
            return _copy(session)

    def complete_onboarding(self, account_id: str) -> Obj:
        with self.state.lock:
            return _copy(self.engine.accounts.complete_onboarding(account_id))

    def authenticate_payment(self, payment_intent_id: str, success: bool = True) -> Obj:
        with self.state.lock:
            return _copy(self.engine.payment_intents.authenticate(payment_intent_id, success))

    def create_oauth_code(self, account_id: str | None = None, country: str = "US") -> str:
        """A code for `/oauth/token`: for an existing (onboarded) Standard account that is not
        yet connected, created here unless account_id is given."""
        with self.state.lock:
            return self.engine.oauth.create_oauth_code(account_id, country=country)

    def events(self, type: str | None = None, account: str | None = None) -> list[Obj]:
        with self.state.lock:
            return [
                _copy(e)
                for e in self.state.events.values()
                if (type is None or e["type"] == type)
                and (account is None or e.get("account", self.state.platform_id) == account)
            ]

    def tax_transactions(self, account: str | None = None) -> list[Obj]:
        """The account's tax transactions and reversals (the platform's by default), oldest
        first, their line items included: what its Stripe Tax reports would show."""
        with self.state.lock:
            found = self.state.data(account).of_type("tax.transaction")
            return [_copy(t) for t in found]  # in the order they were made

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
            if is_hosted(path):
                self.hosted.serve(request, method, path, parts.query, body)
                return
            failure = self.api.take_failure(path)
            if failure is not None:
                self.api.fail(request, method, path, failure)
                return
            self.api.serve(request, method, path, parts.query, body)
        except Exception:  # pragma: no cover - a bug in the test server itself
            log.exception("stripe test server: error handling %s %s", method, path)
            replies.send_json(
                request,
                500,
                {
                    "error": {
                        "type": "api_error",
                        "message": "The Stripe test server failed (see its log).",
                    }
                },
            )


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
