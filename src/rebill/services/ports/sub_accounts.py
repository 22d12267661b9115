"""The bound agency's sub-accounts: their terms, caps and states (with who changed them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from rebill.domain.account import SubAccount
from rebill.domain.caps import Caps
from rebill.domain.tax_decision import BuyerTaxIdentity


@dataclass(frozen=True)
class StateChange:
    """One change of a sub-account's state: when, from, to, by whom and why."""

    changed_at: datetime
    from_state: str
    to_state: str
    actor: str
    reason: str


class SubAccountRepository(Protocol):
    def get(self, sub_account_id: str) -> SubAccount | None: ...

    def all(self, ids: set[str] | None = None) -> dict[str, SubAccount]:
        """The agency's sub-accounts by id (only `ids`, when given)."""
        ...

    def ids(self) -> list[str]: ...

    def countries(self) -> dict[str, str]:
        """Each sub-account's billing country (where Stripe Tax places the sale)."""
        ...

    def tax_identities(self) -> dict[str, BuyerTaxIdentity]:
        """Every sub-account's tax identity by id (what the close needs of each client)."""
        ...

    def save(self, sub: SubAccount, country: str | None, now: datetime) -> None:
        """Store the sub-account; `country` None: not given (its tax identity has the rest)."""
        ...

    def set_caps(self, sub_account_id: str, caps: Caps) -> None: ...

    def set_state(
        self, sub_account_id: str, state: str, actor: str, reason: str, at: datetime
    ) -> str:
        """Change a sub-account's state, recording who and when; returns the old state."""
        ...

    def state_changes(self, sub_account_id: str) -> list[StateChange]: ...
