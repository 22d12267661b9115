"""The two requests a voice platform makes around every call, answered without the web
framework's per-request work (routing, dependency solving): `POST /v1/calls/authorize` and
`POST /v1/calls`, when they carry a JSON body, no query string and no `Idempotency-Key`.

The work is the routes' own (`routes/calls.py`), the errors the app's handlers' (`errors.py`),
the metrics label the route's template. Anything else -- a body the route's model refuses, an
Idempotency-Key, `?agency=` -- goes on to the routes, so every answer is the documented route's.
Issue 13: this layer saves about a third of an authorization's CPU; checking a small request's
key in the same trip to a worker thread as its work saves another thread hop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute

from rebill.bootstrap import App
from rebill.domain.access import Principal
from rebill.domain.errors import BillingError
from rebill.entrypoints.api import errors, schemas
from rebill.entrypoints.api.deps import AgencyScope
from rebill.entrypoints.api.guard import PRINCIPAL_KEY, unauthorized
from rebill.entrypoints.api.idempotency import media_of
from rebill.entrypoints.api.routes.calls import (
    authorize_work,
    decide_with_key,
    record_with_key,
    record_work,
    router,
)


@dataclass(frozen=True)
class Handler:
    model: type[BaseModel]
    work: Callable[[App, AgencyScope, Any], tuple[int, Any]]


HANDLERS = {
    "/v1/calls/authorize": Handler(schemas.AuthorizeIn, authorize_work),
    "/v1/calls": Handler(schemas.CallsIn, record_work),
}


group_records_max = 1000  # a group holds the waiting requests up to this many records


@dataclass
class _Waiting:
    body: schemas.CallsIn
    answer: asyncio.Future[tuple[int, Any] | None]


class CallGroups:
    """Group commit of `POST /v1/calls` (issue 13): the requests of one key that arrive while
    that key's previous group is being written wait, and are then checked and written together
    -- one trip to a worker thread, one transaction for the key look-up and the records --
    each answered as if alone (`routes.calls.record_with_key`). A key has at most one group
    in flight, so a request waits at most for the one transaction before its own; other keys
    are not held up.
    The answer is None for an unknown or revoked key; a problem of the whole group (the key's
    role, the database away) is raised to every request in it."""

    def __init__(self, rebill: App) -> None:
        self.rebill = rebill
        self._waiting: dict[str, list[_Waiting]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def record(self, token: str, body: schemas.CallsIn) -> tuple[int, Any] | None:
        answer: asyncio.Future[tuple[int, Any] | None] = asyncio.get_running_loop().create_future()
        waiting = self._waiting.get(token)
        if waiting is None:  # no group in flight for this key: this one starts it
            self._waiting[token] = waiting = []
            task = asyncio.get_running_loop().create_task(self._drain(token))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        waiting.append(_Waiting(body, answer))
        return await answer

    async def _drain(self, token: str) -> None:
        group: list[_Waiting] = []
        try:
            while group := _first_records(self._waiting[token], group_records_max):
                del self._waiting[token][: len(group)]
                try:
                    answers = await run_in_threadpool(self._write, token, [w.body for w in group])
                except Exception as exc:  # every request of the group gets the group's problem
                    for waiting in group:
                        waiting.answer.set_exception(exc)
                else:
                    for waiting, done in zip(group, answers, strict=True):
                        waiting.answer.set_result(done)
        finally:  # cancelled (the server stopping): nothing is left waiting for an answer
            for waiting in (*group, *self._waiting.pop(token, [])):
                if not waiting.answer.done():
                    waiting.answer.cancel()

    def _write(self, token: str, bodies: list[schemas.CallsIn]) -> list[tuple[int, Any] | None]:
        documents = record_with_key(self.rebill, token, bodies)
        if documents is None:
            return [None] * len(bodies)
        return [(200, document) for document in documents]


def _first_records(waiting: list[_Waiting], most: int) -> list[_Waiting]:
    """The first waiting requests, up to `most` records (always at least one request)."""
    taken = 0
    for count, request in enumerate(waiting):
        taken += len(request.body.calls)
        if taken > most and count:
            return waiting[:count]
    return waiting[:]


async def _nothing() -> dict[str, Any]:
    return {"type": "http.disconnect"}


class FastCalls:
    """`authenticate(token)` answers the caller of an API key, or None (as the guard's)."""

    def __init__(
        self, rebill: App, api: FastAPI, authenticate: Callable[[str], Principal | None]
    ) -> None:
        self.rebill = rebill
        self.api = api
        self.authenticate = authenticate
        self.groups = CallGroups(rebill)
        self._routes: dict[str, BaseRoute] | None = None

    def route(self, path: str) -> BaseRoute | None:
        """The documented route of `path` (for the metrics' label), found once."""
        if self._routes is None:
            self._routes = {
                str(getattr(route, "path", "")): route
                for route in router.routes
                if getattr(route, "path", None) in HANDLERS
                and "POST" in (getattr(route, "methods", None) or ())
            }
        return self._routes.get(path)

    def takes(self, scope: MutableMapping[str, Any]) -> bool:
        """A POST of JSON to one of the two paths, with no query string and no
        Idempotency-Key (the body is still to be read and validated)."""
        if scope.get("path", "") not in HANDLERS or scope.get("method") != "POST":
            return False
        if scope.get("query_string"):
            return False
        json_body = False
        for name, value in scope.get("headers", ()):
            if name == b"idempotency-key":
                return False
            if name == b"content-type":
                json_body = value.split(b";")[0].strip().lower() == b"application/json"
        return json_body

    async def __call__(
        self, scope: MutableMapping[str, Any], body: bytes, send: Any, token: str | None = None
    ) -> bool:
        """Answer the request and say True; or say False and leave it to the routes. With
        `token`, the key is checked in the same trip to a worker thread as the work (401 when
        it is unknown); without, the guard has put the caller in the scope."""
        if not self.takes(scope):
            return False
        handler = HANDLERS[scope["path"]]
        state = scope.setdefault("state", {})
        if token is None and not isinstance(state.get(PRINCIPAL_KEY), Principal):
            return False
        try:
            # pydantic's own JSON parser: about half the CPU a record of `json.loads` and then
            # a validation of the objects (issue 13). What it refuses (NaN, a lone surrogate,
            # a model's rule), the route parses as it always did and answers as documented.
            parsed = handler.model.model_validate_json(body)
        except (ValueError, ValidationError):
            return False
        route = self.route(scope["path"])
        if route is None:
            return False
        scope["route"] = route

        def work() -> tuple[int, Any] | None:
            if token is not None and isinstance(parsed, schemas.AuthorizeIn) and not parsed.call_id:
                decided = decide_with_key(self.rebill, token, parsed)
                if decided is None:
                    return None
                state[PRINCIPAL_KEY], done = decided
                return done
            if token is not None:
                principal = self.authenticate(token)
                if principal is None:
                    return None
                state[PRINCIPAL_KEY] = principal
            return handler.work(self.rebill, AgencyScope(state[PRINCIPAL_KEY], None), parsed)

        response: JSONResponse
        try:
            if token is not None and isinstance(parsed, schemas.CallsIn):
                done = await self.groups.record(token, parsed)
            else:
                done = await run_in_threadpool(work)
        except BillingError as exc:
            response = errors.billing_problem(exc)
        except HTTPException as exc:
            response = errors.http_problem(exc)
        except Exception as exc:
            if not errors.database_unavailable(exc):
                raise
            response = errors.database_problem()
        else:
            if done is None:
                await unauthorized(send, bearer=True)
                return True
            status, document = done
            response = JSONResponse(document, status_code=status, media_type=media_of(status))
        await response(scope, _nothing, send)
        return True
