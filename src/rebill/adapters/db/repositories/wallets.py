"""The agency's prepaid credit wallets: balances read locked and written back in bulk, or moved
by one conditional statement that never takes a wallet below zero."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import insert, select, update

from rebill.adapters.db.repositories.common import AgencyBound
from rebill.adapters.db.rows import WalletRow


class SqlWalletRepository(AgencyBound):
    def balances(
        self, sub_account_ids: Iterable[str] | None = None, for_update: bool = False
    ) -> dict[str, int]:
        query = select(WalletRow).where(WalletRow.agency_id == self.agency_id)
        if sub_account_ids is not None:
            query = query.where(WalletRow.sub_account_id.in_(sorted(set(sub_account_ids))))
        if for_update:
            query = query.with_for_update()
        return {row.sub_account_id: row.balance_micros for row in self.session.scalars(query)}

    def set_balances(self, balances: dict[str, int], existing: set[str] | None = None) -> None:
        """Bulk UPDATE for known wallets, INSERT for new."""
        if existing is None:
            existing = set(self.balances(balances))
        old: list[dict[str, object]] = []
        new: list[dict[str, object]] = []
        for sub, balance in balances.items():
            values = {"agency_id": self.agency_id, "sub_account_id": sub, "balance_micros": balance}
            (old if sub in existing else new).append(values)
        if old:
            self.session.execute(update(WalletRow), old)
        if new:
            self.session.execute(insert(WalletRow), new)

    def add(self, sub_account_id: str, delta_micros: int) -> int:
        result = self.session.execute(
            update(WalletRow)
            .where(
                WalletRow.agency_id == self.agency_id,
                WalletRow.sub_account_id == sub_account_id,
                WalletRow.balance_micros + delta_micros >= 0,
            )
            .values(balance_micros=WalletRow.balance_micros + delta_micros)
            .returning(WalletRow.balance_micros)
            .execution_options(synchronize_session=False)
        )
        balance = result.scalar_one_or_none()
        if balance is not None:
            return int(balance)
        assert delta_micros >= 0, f"wallet of {sub_account_id} cannot go below zero"
        self.session.add(
            WalletRow(
                agency_id=self.agency_id, sub_account_id=sub_account_id, balance_micros=delta_micros
            )
        )
        self.session.flush()
        return delta_micros
