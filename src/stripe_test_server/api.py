"""The API side of the server (`/v1/...`, `/oauth/token`, `/oauth/deauthorize`): injected
failures first, then authentication (any `sk_test_` key; an OAuth access token acts as its
account) and the `Stripe-Account` header, idempotency keys, routing, the parameters checked
against the SDK's types, the engine call, and `expand[]`."""

from __future__ import annotations

import base64
import json
import re
import time
from http.server import BaseHTTPRequestHandler

from stripe_test_server import replies
from stripe_test_server.engine import Engine
from stripe_test_server.errors import ApiError, invalid_request
from stripe_test_server.forms import decode
from stripe_test_server.params import ParamChecker
from stripe_test_server.resources.oauth import OAuthError
from stripe_test_server.routes import Route, routes
from stripe_test_server.state import Ctx, Failure, IdempotentResult, State
from stripe_test_server.values import Obj, new_id

_KEY = re.compile(r"^(sk|rk)_test_[A-Za-z0-9_]+$")
IDEMPOTENCY_KEY_LENGTH_MAX = 255


def _mask(key: str) -> str:
    return key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else key


def _api_key(request: BaseHTTPRequestHandler) -> str:
    """The key of the `Authorization` header (Bearer, or Basic with the key as user)."""
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
    return key


def _injected_failure_body(status: int) -> Obj:
    if status == 429:
        return {
            "error": {
                "type": "invalid_request_error",
                "code": "rate_limit",
                "message": "Too many requests hit the API too quickly. We recommend an "
                "exponential backoff of your requests. (Injected by the test server.)",
            }
        }
    return {
        "error": {
            "type": "api_error",
            "message": "An unknown error occurred. (Injected by the test server.)",
        }
    }


class Api:
    def __init__(
        self, state: State, engine: Engine, checker: ParamChecker | None, api_version: str
    ) -> None:
        self.state = state
        self.engine = engine
        self.checker = checker
        self.api_version = api_version
        self.routes = routes(engine)

    # -- injected failures -----------------------------------------------------------------
    def take_failure(self, path: str) -> Failure | None:
        with self.state.lock:
            for index, failure in enumerate(self.state.failures):
                if failure.path_prefix is None or path.startswith(failure.path_prefix):
                    return self.state.failures.pop(index)
        return None

    def fail(
        self, request: BaseHTTPRequestHandler, method: str, path: str, failure: Failure
    ) -> None:
        """Answer with the injected failure, executing nothing."""
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
        replies.send_json(request, status, _injected_failure_body(status))

    # -- requests --------------------------------------------------------------------------
    def serve(
        self, request: BaseHTTPRequestHandler, method: str, path: str, query: str, body: str
    ) -> None:
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
                stored = self._stored(ctx, idempotency_key, method, path, params)
                if stored is not None:
                    record["status"] = stored.status
                    record["replayed"] = True
                    replay_headers = dict(
                        stored.headers,
                        **{"Request-Id": request_id, "Idempotent-Replayed": "true"},
                    )
                    replies.send(request, stored.status, stored.body, replay_headers)
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
        replies.send(request, status, encoded, headers)

    def _authenticate(self, request: BaseHTTPRequestHandler) -> Ctx:
        key = _api_key(request)
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

    def _stored(
        self, ctx: Ctx, idempotency_key: str | None, method: str, path: str, params: Obj
    ) -> IdempotentResult | None:
        """The kept answer of an earlier request with this idempotency key (which must have
        been the same request)."""
        if not idempotency_key:
            return None
        if len(idempotency_key) > IDEMPOTENCY_KEY_LENGTH_MAX:
            raise invalid_request(
                "Idempotency keys can be at most 255 characters long.",
                saved=False,
            )
        stored = self.state.data(ctx.account).idempotency.get(idempotency_key)
        if stored is not None and (stored.method, stored.path, stored.params) != (
            method,
            path,
            params,
        ):
            raise ApiError(
                400,
                "idempotency_error",
                "Keys for idempotent requests can only be used with the same "
                "parameters they were first used with. Try using a key other "
                f"than '{idempotency_key}' if you meant to execute a different "
                "request.",
                saved=False,
            )
        return stored

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
        return 200, self.engine.expand(ctx, result, expand or []), True
