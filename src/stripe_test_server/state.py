"""The server's state: every account's objects (the platform's own and each connected
account's, keyed by the `Stripe-Account` they were made on), the Connect and OAuth
bookkeeping, the events, the injected failures and the request log, all behind one lock; plus
the rules every resource shares (who may see an object, how a list pages, how an event is
made). The resources in `stripe_test_server.resources` apply Stripe's rules on top of it."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stripe_test_server import cards
from stripe_test_server.errors import no_such, param_error
from stripe_test_server.values import Obj, new_id, now, to_int

LIST_LIMIT_MAX = 100


@dataclass
class IdempotentResult:
    method: str
    path: str
    params: Any
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass
class AccountData:
    """One account's objects: the platform's own, or a connected account's."""

    id: str
    objects: dict[str, Obj] = field(default_factory=dict)
    cards: dict[str, cards.TestCard] = field(default_factory=dict)  # payment method id -> card
    session_items: dict[str, list[Obj]] = field(default_factory=dict)
    session_params: dict[str, Obj] = field(default_factory=dict)
    tax_settings: Obj = field(default_factory=dict)
    idempotency: dict[str, IdempotentResult] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)

    def of_type(self, object_type: str) -> list[Obj]:
        return [o for o in self.objects.values() if o.get("object") == object_type]


@dataclass
class Ctx:
    """Who is asking: the account the request acts on, and the request's ids."""

    account: str
    platform: bool
    request_id: str | None = None
    idempotency_key: str | None = None


@dataclass
class Failure:
    kind: str  # "429" | "500" | "timeout"
    path_prefix: str | None
    delay: float


class State:
    """All accounts' data behind one lock. The platform account itself is registered by
    `resources.accounts.Accounts.register_platform` when the engine is wired."""

    def __init__(
        self,
        base_url: Callable[[], str],
        emit_hook: Callable[[Obj], object],
        *,
        default_tax_country: str | None = None,
        api_version: str = "2025-09-30.clover",
    ) -> None:
        self.lock = threading.RLock()
        self._base_url = base_url
        self._emit_hook = emit_hook
        self.api_version = api_version
        self.default_tax_country = default_tax_country
        self.platform_id = new_id("acct_1", 15)
        self.accounts: dict[str, AccountData] = {}
        self.account_objects: dict[str, Obj] = {}
        self.connected: set[str] = set()
        self.account_links: dict[str, Obj] = {}
        self.oauth_codes: dict[str, Obj] = {}
        self.access_tokens: dict[str, str] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.session_accounts: dict[str, str] = {}  # checkout session id -> account id
        self.payment_intent_accounts: dict[str, str] = {}  # payment intent id -> account id
        self.events: dict[str, Obj] = {}
        self.failures: list[Failure] = []
        self.request_log: list[Obj] = []

    @property
    def base_url(self) -> str:
        return self._base_url()

    def data(self, account: str | None = None) -> AccountData:
        return self.accounts[account or self.platform_id]

    def is_connected(self, account: str) -> bool:
        return account in self.connected

    def ctx_of(self, account: str) -> Ctx:
        """The context of a test-only step acting on account (no request behind it)."""
        return Ctx(account, account == self.platform_id)

    def session_account(self, session_id: str) -> str | None:
        return self.session_accounts.get(session_id)

    def emit(
        self, ctx: Ctx | None, account: str, type_: str, obj: Obj, previous: Obj | None = None
    ) -> Obj:
        event: Obj = {
            "id": new_id("evt_"),
            "object": "event",
            "api_version": self.api_version,
            "created": now(),
            "data": {"object": copy.deepcopy(obj)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {
                "id": ctx.request_id if ctx else None,
                "idempotency_key": ctx.idempotency_key if ctx else None,
            },
            "type": type_,
        }
        if previous is not None:
            event["data"]["previous_attributes"] = copy.deepcopy(previous)
        if account != self.platform_id:
            event["account"] = account
            event["context"] = account
        self.events[event["id"]] = event
        self.accounts[account].events.append(event["id"])
        self._emit_hook(event)
        return event

    def get_object(
        self, ctx: Ctx, object_id: str, object_type: str, label: str, param: str = "id"
    ) -> Obj:
        """An object of the asking account; `No such <label>` (404 for the path's id, 400 for
        a parameter) otherwise."""
        obj = self.data(ctx.account).objects.get(object_id)
        if obj is None or obj.get("object") != object_type:
            raise no_such(label, object_id, param=param, status=404 if param == "id" else 400)
        return obj

    def list_page(self, items: list[Obj], params: Obj, url: str) -> Obj:
        """A Stripe list: newest first, `starting_after` and `limit` (1..100) applied. `items`
        come in the order they were made; objects made in the same second keep it (newest
        first, as Stripe lists them), never the order of their random ids."""
        items = sorted(reversed(items), key=lambda o: o.get("created", 0), reverse=True)
        after = params.get("starting_after")
        if after:
            ids = [o["id"] for o in items]
            items = items[ids.index(after) + 1 :] if after in ids else []
        limit = to_int(params.get("limit", 10), "limit")
        if not 1 <= limit <= LIST_LIMIT_MAX:
            raise param_error(
                f"This value must be between 1 and 100 (it currently is {limit}).",
                "limit",
                code="parameter_invalid_integer",
            )
        return {
            "object": "list",
            "data": [copy.deepcopy(o) for o in items[:limit]],
            "has_more": len(items) > limit,
            "url": url,
        }
