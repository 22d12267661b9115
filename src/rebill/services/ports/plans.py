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
