"""The API's dependencies, as `Annotated` types for route signatures: the composition root
(`Rebill`), the caller of the request's API key (`Caller`), the agency it acts on (`Tenant`),
paging of lists (`Paging`) and the `Idempotency-Key` of every POST (`Idempotency`); and the
role checks a route makes.

A route asks its tenant for the agency id (`tenant.agency_id()`) and makes its role checks
where its answer depends on them, inside the idempotent work of a POST: so a refusal comes
in the same order as before (the body validated first, a replayed key before any check)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Query, Request

from rebill.bootstrap import App
from rebill.domain.access import Principal
from rebill.domain.errors import FieldError, NotFoundError, ValidationError
from rebill.entrypoints.api import schemas
from rebill.entrypoints.api.guard import PRINCIPAL_KEY
from rebill.entrypoints.api.idempotency import IdempotentWrite
from rebill.services.access.keys import authenticate
from rebill.services.catalog.ownership import CatalogCaller


async def rebill_app(request: Request) -> App:
    """The composition root the app was built with (`create_app` keeps it in the state)."""
    app: App = request.app.state.rebill
    return app


Rebill = Annotated[App, Depends(rebill_app)]


def principal(
    request: Request, rebill: Rebill, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    """The caller of the request's API key: as the guard found it before the body was read,
    or from `Authorization: Bearer <key>` (401 without one, or for an unknown key)."""
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


@dataclass(frozen=True)
class AgencyScope:
    """The agency a request acts on: an agency or sub-account key's own; a platform key's the
    one it names in `?agency=`. Another agency than the key's own answers 404."""

    caller: Principal
    requested: str | None  # the `agency` query parameter

    def agency_id(self) -> str:
        if self.caller.kind == "platform":
            if not self.requested:
                raise ValidationError(
                    [FieldError("query", "platform keys name the agency", "agency")]
                )
            return self.requested
        assert self.caller.agency_id is not None
        if self.requested and self.requested != self.caller.agency_id:
            raise NotFoundError(f"agency {self.requested!r} does not exist")
        return self.caller.agency_id

    def agency_id_or_every(self) -> str | None:
        """None for a platform key that names no agency: it acts on every agency."""
        if self.caller.kind == "platform" and not self.requested:
            return None
        return self.agency_id()


async def agency_scope(caller: Caller, agency: AgencyParam = None) -> AgencyScope:
    return AgencyScope(caller, agency)


Tenant = Annotated[AgencyScope, Depends(agency_scope)]


def require(caller: Principal, area: str) -> None:
    """403 unless the caller's role may change `area` (settings, billing, usage)."""
    if not caller.may_write(area):
        raise HTTPException(403, f"this key may not change {area}")


def require_platform(caller: Principal, detail: str) -> None:
    if caller.kind != "platform":
        raise HTTPException(403, detail)


def refuse_sub_account(caller: Principal, detail: str) -> None:
    if caller.kind == "sub_account":
        raise HTTPException(403, detail)


def visible_sub(caller: Principal, agency_id: str, sub_id: str) -> None:
    """404 for a sub-account the caller may not see (a sub-account key sees its own only)."""
    if not caller.sees_sub_account(agency_id, sub_id):
        raise NotFoundError(f"sub-account {sub_id!r} does not exist")


def key_actor(caller: Principal) -> str:
    """The caller as the audit log names it."""
    return f"key {caller.key_id} ({caller.role or caller.kind})"


def catalog_caller(caller: Principal) -> CatalogCaller:
    """An agency key applies as its agency; `billing` and `admin` may move money."""
    return CatalogCaller(
        key_actor(caller),
        caller.agency_id if caller.kind != "platform" else None,
        may_move_money=caller.may_write("billing"),
    )


@dataclass(frozen=True)
class Page:
    """A page of a list: at most `limit` items after the one with id `starting_after`."""

    limit: int
    starting_after: str | None

    def of(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        if self.starting_after is not None:
            ids = [i["id"] for i in items]
            if self.starting_after not in ids:
                detail = f"no object {self.starting_after!r} in this list"
                raise ValidationError([FieldError("query", detail, "starting_after")])
            items = items[ids.index(self.starting_after) + 1 :]
        return {"data": items[: self.limit], "has_more": len(items) > self.limit}


async def paging(
    limit: Annotated[int, Query(ge=1, le=schemas.page_limit_max)] = 20,
    starting_after: Annotated[str | None, Query(max_length=200)] = None,
) -> Page:
    return Page(limit, starting_after)


Paging = Annotated[Page, Depends(paging)]


async def idempotent_write(
    request: Request,
    rebill: Rebill,
    caller: Caller,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> IdempotentWrite:
    return IdempotentWrite(rebill, request, caller, idempotency_key)


Idempotency = Annotated[IdempotentWrite, Depends(idempotent_write)]
