"""The agency's prepaid credit wallets: balances read locked and written back in bulk, or moved
by one conditional statement that never takes a wallet below zero."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, insert, select, text, update

from rebill.adapters.db.repositories.common import AgencyBound, is_postgresql, prebuilt, table_of
from rebill.adapters.db.rows import WalletRow


class SqlWalletRepository(AgencyBound):
    def balances(
        self, sub_account_ids: Iterable[str] | None = None, for_update: bool = False
    ) -> dict[str, int]:
        if sub_account_ids is not None:  # the ingestion path: a prebuilt statement
            pg = is_postgresql(self.session)
            name = "wallets_locked" if for_update else "wallets"
            statement = prebuilt(name, pg, lambda pg: _balances(pg and for_update))
            parameters = {"agency": self.agency_id, "subs": sorted(set(sub_account_ids))}
            rows = self.session.connection().execute(statement, parameters)
            return {sub: int(balance) for sub, balance in rows}
        query = select(WalletRow).where(WalletRow.agency_id == self.agency_id)
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
            if sub in existing:
                old.append({"agency": self.agency_id, "sub": sub, "balance_micros": balance})
            else:
                values = {"agency_id": self.agency_id, "sub_account_id": sub}
                new.append(values | {"balance_micros": balance})
        connection = self.session.connection()
        if old:
            connection.execute(prebuilt("set_wallets", False, _set_balances), old)
        if new:
            connection.execute(prebuilt("insert_wallets", False, _insert_wallets), new)

    def take(self, sub_account_id: str, amount_micros: int) -> tuple[int, int] | None:
        """PostgreSQL: one statement that locks the row, reads it and writes it (the lock is
        held from here to the commit only). SQLite (one writer at a time): read, then write."""
        parameters = {"agency": self.agency_id, "sub": sub_account_id, "amount": amount_micros}
        connection = self.session.connection()
        if is_postgresql(self.session):
            row = connection.execute(_TAKE_PG, parameters).first()
            return None if row is None else (int(row[0]) - int(row[1]), int(row[1]))
        found = self.balances([sub_account_id])
        if sub_account_id not in found:
            return None
        balance = found[sub_account_id]
        taken = min(amount_micros, balance)
        self.set_balances({sub_account_id: balance - taken}, {sub_account_id})
        return taken, balance - taken

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


# (balance before, balance after): the CTE locks the row (and, in READ COMMITTED, reads its
# newest version once the lock is granted); the UPDATE takes what is there, never more.
_TAKE_PG = text(
    "WITH old AS (SELECT balance_micros FROM wallets "
    "WHERE agency_id = :agency AND sub_account_id = :sub FOR UPDATE) "
    "UPDATE wallets SET balance_micros = old.balance_micros - LEAST(old.balance_micros, :amount) "
    "FROM old WHERE wallets.agency_id = :agency AND wallets.sub_account_id = :sub "
    "RETURNING old.balance_micros, wallets.balance_micros"
)


def _balances(locked: bool) -> Any:
    table = table_of(WalletRow)
    query = select(table.c.sub_account_id, table.c.balance_micros).where(
        table.c.agency_id == bindparam("agency"),
        table.c.sub_account_id.in_(bindparam("subs", expanding=True)),
    )
    return query.with_for_update() if locked else query


def _set_balances(_: bool) -> Any:
    table = table_of(WalletRow)
    return (
        update(table)
        .where(table.c.agency_id == bindparam("agency"), table.c.sub_account_id == bindparam("sub"))
        .values(balance_micros=bindparam("balance_micros"))
    )


def _insert_wallets(_: bool) -> Any:
    return insert(table_of(WalletRow))
