"""Limits before work: an ASGI layer in front of the API that refuses an unauthenticated
`/v1/` request before a byte of its body is read, and a body larger than its route's limit
while it is being read (413), so neither costs the server more than the limit. The one
exception is bounded: a fast-path request (an authorization, a single call) declaring at most
`early_body_bytes_max` bytes is read first, and its key checked with its work (issue 13)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool

from rebill.domain.access import Principal
from rebill.domain.text import is_digits
from rebill.entrypoints.api.errors import (
    PROBLEM,
    database_problem,
    database_unavailable,
    problem_body,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

body_bytes_max = 2 * 1024 * 1024
# Batches and catalogs (a catalog may carry logos as data URLs) get more room.
route_body_bytes_max = {"/v1/calls": 4 * 1024 * 1024, "/v1/catalog": 4 * 1024 * 1024}
PRINCIPAL_KEY = "rebill.principal"
# A fast-path body up to this size is read before its key is checked (see `Guard.__call__`).
early_body_bytes_max = 64 * 1024
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


def body_limit(path: str) -> int:
    return route_body_bytes_max.get(path.rstrip("/"), body_bytes_max)


async def _answer(
    send: Send, status: int, code: str, detail: str, extra: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    body = json.dumps(problem_body(status, code, detail)).encode()
    headers = [
        (b"content-type", PROBLEM.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def unauthorized(send: Send, bearer: bool) -> None:
    detail = "this key is unknown or revoked" if bearer else "send `Authorization: Bearer <key>`"
    await _answer(send, 401, "unauthorized", detail, ((b"www-authenticate", b"Bearer"),))


async def _database_unavailable(send: Send) -> None:
    """The key could not be looked up: the database is away (the same problem as the app's)."""
    problem = database_problem()
    retry = problem.headers["retry-after"].encode()
    body = bytes(problem.body)
    headers = [
        (b"content-type", PROBLEM.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", retry),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class FastPath(Protocol):
    """What the guard hands a request it may answer without the app (`fast.FastCalls`)."""

    def takes(self, scope: Scope) -> bool:
        """Would it answer this request (its method, path and headers)?"""
        ...

    async def __call__(self, scope: Scope, body: bytes, send: Send, token: str | None) -> bool:
        """Answer (the key checked first when `token` is given) and say True, or say False."""
        ...


class Guard:
    """`authenticate(token)` answers the caller of an API key, or None."""

    def __init__(
        self,
        app: ASGIApp,
        authenticate: Callable[[str], Principal | None],
        hsts: bool = False,
        fast: FastPath | None = None,
    ) -> None:
        self.app = app
        self.fast = fast
        self.authenticate = authenticate
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        limit = body_limit(path)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        token = None
        if path.startswith("/v1/"):
            authorization = headers.get(b"authorization", b"").decode("latin-1")
            if authorization.startswith("Bearer ") and len(authorization) < 512:
                token = authorization.removeprefix("Bearer ").strip()
            # A small body for the fast path (an authorization, a single call) is read before
            # its key is checked, so that one trip to a worker thread checks the key and does
            # the work (issue 13); any other request is checked first.
            early = (
                token is not None
                and self.fast is not None
                and length is not None
                and is_digits(length)
                and int(length) <= early_body_bytes_max
                and self.fast.takes(scope)
            )
            if not early:
                bearer = authorization.startswith("Bearer ")
                if not await self._authenticated(scope, send, token, bearer):
                    return
                token = None
        if length is not None and (not is_digits(length) or int(length) > limit):
            await _answer(
                send, 413, "payload_too_large", f"a request body here is at most {limit} bytes"
            )
            return
        await self._limited(scope, receive, send, limit, token)

    async def _authenticated(
        self, scope: Scope, send: Send, token: str | None, bearer: bool = True
    ) -> bool:
        """Look the key up and keep its principal in the scope; or answer 401 (or 503 when
        the database is away) and say False."""
        principal = None
        if token is not None:
            try:
                principal = await run_in_threadpool(self.authenticate, token)
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
                await _database_unavailable(send)
                return False
        if principal is None:
            await unauthorized(send, bearer)
            return False
        scope.setdefault("state", {})[PRINCIPAL_KEY] = principal
        return True

    async def _limited(
        self, scope: Scope, receive: Receive, send: Send, limit: int, token: str | None
    ) -> None:
        """Read the body up to `limit` bytes (413 beyond it), then hand it to the fast path or
        the app. With `token`, the key is still to be checked: the fast path checks it with
        its work, or it is checked here before the app sees the request."""
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
            if len(body) > limit:
                await _answer(
                    send, 413, "payload_too_large", f"a request body here is at most {limit} bytes"
                )
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        answer = send
        if self.hsts:

            async def strict_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", []), HSTS]
                await send(message)

            answer = strict_send
        if self.fast is not None and await self.fast(scope, bytes(body), answer, token):
            return
        if token is not None and not await self._authenticated(scope, send, token):
            return
        await self.app(scope, replay, answer)
