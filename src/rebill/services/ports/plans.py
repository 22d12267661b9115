"""The bound agency's plans and each sub-account's plan history (subscriptions, upgrades,
scheduled downgrades)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from rebill.domain.charges import PlanChange
from rebill.domain.plan import Plan


class PlanRepository(Protocol):
    def save(self, plan: Plan) -> None: ...

    def all(self, ids: set[str] | None = None) -> dict[str, Plan]:
        """The agency's plans by id (only `ids`, when given)."""
        ...

    def history(
        self, plans: dict[str, Plan], sub_account_ids: set[str] | None = None
    ) -> dict[str, list[PlanChange]]:
        """Plan histories of the agency's sub-accounts (of `sub_account_ids` only, when
        given), oldest change first."""
        ...

    def history_of(self, sub_account_id: str) -> list[PlanChange]:
        """One sub-account's plan history with its plans and their rates, in one query."""
        ...

    def add_change(self, sub_account_id: str, change: PlanChange, now: datetime) -> None: ...

    def drop_changes_after(self, sub_account_id: str, after: datetime) -> None:
        """Forget scheduled changes (a pending downgrade) that a newer change supersedes."""
        ...

    def keep_terms(self, plan_id: str, for_whom: str, start: datetime, now: datetime) -> int:
        """Before plan `plan_id`'s stored terms change: keep them, as its next earlier version,
        for the clients on them: `next_period` until `start` (the next period's first instant,
        when they take the plan's terms), `new_clients` until moved. Returns how many clients
        keep them."""
        ...
