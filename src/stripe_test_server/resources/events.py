"""Events: each account sees its own (`/v1/events`, filtered by type or a `prefix.*` type).
They are made by `State.emit` whenever a resource changes, and delivered by `webhooks`."""

from __future__ import annotations

from stripe_test_server.errors import no_such
from stripe_test_server.state import Ctx, State
from stripe_test_server.values import Obj


class Events:
    def __init__(self, state: State) -> None:
        self.state = state

    def retrieve_event(self, ctx: Ctx, event_id: str) -> Obj:
        if event_id not in self.state.data(ctx.account).events:
            raise no_such("event", event_id)
        return self.state.events[event_id]

    def list_events(self, ctx: Ctx, params: Obj) -> Obj:
        items = [self.state.events[e] for e in self.state.data(ctx.account).events]
        if params.get("type"):
            pattern = str(params["type"])
            if pattern.endswith("*"):
                items = [e for e in items if e["type"].startswith(pattern[:-1])]
            else:
                items = [e for e in items if e["type"] == pattern]
        return self.state.list_page(items, params, "/v1/events")
