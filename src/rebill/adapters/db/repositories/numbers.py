"""The phone numbers the agency's sub-accounts rent: rented and released instants per number."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select

from rebill.adapters.db.repositories.common import AgencyBound, table_of
from rebill.adapters.db.rows import PhoneNumberRow
from rebill.domain.charges import HeldNumber

_numbers = table_of(PhoneNumberRow)


def _held(row: Any) -> HeldNumber:
    return HeldNumber(row.e164, row.number_type, row.rented_at, row.released_at)


class SqlNumberRepository(AgencyBound):
    def all(self) -> dict[str, list[HeldNumber]]:
        result: dict[str, list[HeldNumber]] = defaultdict(list)
        n = _numbers.c  # rows, not ORM instances: the close reads every number
        query = select(n.sub_account_id, n.e164, n.number_type, n.rented_at, n.released_at)
        rows = self.session.execute(
            query.where(n.agency_id == self.agency_id).order_by(n.rented_at, n.e164)
        ).all()
        for sub_id, e164, number_type, rented_at, released_at in rows:
            result[sub_id].append(HeldNumber(e164, number_type, rented_at, released_at))
        return result

    def of(self, sub_account_id: str) -> list[HeldNumber]:
        rows = self.session.scalars(
            select(PhoneNumberRow)
            .where(
                PhoneNumberRow.agency_id == self.agency_id,
                PhoneNumberRow.sub_account_id == sub_account_id,
            )
            .order_by(PhoneNumberRow.rented_at, PhoneNumberRow.e164)
        )
        return [_held(r) for r in rows]

    def holder(self, e164: str) -> str | None:
        return self.session.scalar(
            select(PhoneNumberRow.sub_account_id).where(
                PhoneNumberRow.agency_id == self.agency_id,
                PhoneNumberRow.e164 == e164,
                PhoneNumberRow.released_at.is_(None),
            )
        )

    def add(self, sub_account_id: str, number: HeldNumber) -> None:
        self.session.add(
            PhoneNumberRow(
                agency_id=self.agency_id,
                e164=number.e164,
                rented_at=number.rented_at,
                sub_account_id=sub_account_id,
                number_type=number.number_type,
                released_at=number.released_at,
            )
        )
        self.session.flush()

    def release(self, number: HeldNumber, at: datetime) -> None:
        row = self.session.get(PhoneNumberRow, (self.agency_id, number.e164, number.rented_at))
        assert row is not None
        row.released_at = at
        self.session.flush()
