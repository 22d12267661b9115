"""Limits before work: an ASGI layer in front of the API that refuses an unauthenticated
`/v1/` request before a byte of its body is read, and a body larger than its route's limit
while it is being read (413), so neither costs the server more than the limit."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.concurrency import run_in_threadpool

from rebill.domain.access import Principal
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


class Guard:
    """`authenticate(token)` answers the caller of an API key, or None."""

    def __init__(
        self,
        app: ASGIApp,
        authenticate: Callable[[str], Principal | None],
        hsts: bool = False,
        fast: Callable[[Scope, bytes, Send], Awaitable[bool]] | None = None,
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
        if path.startswith("/v1/"):
            authorization = headers.get(b"authorization", b"").decode("latin-1")
            principal = None
            if authorization.startswith("Bearer ") and len(authorization) < 512:
                token = authorization.removeprefix("Bearer ").strip()
                try:
                    principal = await run_in_threadpool(self.authenticate, token)
                except Exception as exc:
                    if not database_unavailable(exc):
                        raise
                    await _database_unavailable(send)
                    return
            if principal is None:
                detail = (
                    "this key is unknown or revoked"
                    if authorization.startswith("Bearer ")
                    else "send `Authorization: Bearer <key>`"
                )
                await _answer(
                    send, 401, "unauthorized", detail, ((b"www-authenticate", b"Bearer"),)
                )
                return
            scope.setdefault("state", {})[PRINCIPAL_KEY] = principal
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _answer(
                send, 413, "payload_too_large", f"a request body here is at most {limit} bytes"
            )
            return
        await self._limited(scope, receive, send, limit)

    async def _limited(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Read the body up to `limit` bytes (413 beyond it), then hand it to the app."""
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
        if self.fast is not None and await self.fast(scope, bytes(body), answer):
            return
        await self.app(scope, replay, answer)
