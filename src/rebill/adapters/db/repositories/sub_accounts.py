"""The agency's sub-accounts: terms, caps (stored as columns, alert thresholds as decimal
text) and states with their history (strictly ordered even within one instant)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select

from rebill.adapters.db.read_cache import cached, caching
from rebill.adapters.db.repositories.common import AgencyBound, table_of
from rebill.adapters.db.rows import StateChangeRow, SubAccountRow
from rebill.domain.account import SubAccount
from rebill.domain.caps import Caps
from rebill.domain.plan import Limits
from rebill.domain.tax_decision import BuyerTaxIdentity
from rebill.services.ports.sub_accounts import StateChange

_sub_accounts = table_of(SubAccountRow)


@lru_cache(maxsize=256)
def _alerts(text: str) -> tuple[Fraction, ...]:
    """The alert thresholds stored as JSON decimal text (most sub-accounts share a few)."""
    return tuple(Fraction(Decimal(a)) for a in json.loads(text))


_NO_IDENTITY = BuyerTaxIdentity()  # most clients': shared (it is immutable)


def _identity(row: Any) -> BuyerTaxIdentity:
    """From a row with the sub-account's `country`, `tax_id` and `address_json`."""
    country, tax_id, address = row.country or None, row.tax_id, row.address_json
    if country is None and tax_id is None and not address:
        return _NO_IDENTITY
    return BuyerTaxIdentity(country, tax_id, tuple(json.loads(address)) if address else ())


def sub_account_of(row: Any) -> SubAccount:
    """From a `SubAccountRow` or a row of its table's columns."""
    caps = Caps(
        row.cap_monthly_spend_micros,
        row.cap_monthly_minutes,
        _alerts(row.cap_alerts or "[]"),
        row.cap_enforcement,
    )
    return SubAccount(
        row.agency_id,
        row.id,
        row.name,
        row.email,
        row.state,
        Limits(row.limit_campaigns, row.limit_numbers, row.limit_parallel_calls),
        caps,
        row.top_up_threshold_micros,
        row.top_up_amount_micros,
        _identity(row),
    )


def _write_caps(row: SubAccountRow, caps: Caps) -> None:
    row.cap_monthly_spend_micros = caps.monthly_spend_micros
    row.cap_monthly_minutes = caps.monthly_minutes
    row.cap_alerts = json.dumps(
        [str(Decimal(a.numerator) / Decimal(a.denominator)) for a in caps.alerts]
    )
    row.cap_enforcement = caps.enforcement


class SqlSubAccountRepository(AgencyBound):
    def get(self, sub_account_id: str) -> SubAccount | None:
        if not caching(self.session):
            return self._all({sub_account_id}).get(sub_account_id)
        return self._every().get(sub_account_id)

    def all(self, ids: set[str] | None = None) -> dict[str, SubAccount]:
        if ids is not None and not caching(self.session):
            return self._all(ids)
        every = self._every()
        if ids is None:
            return dict(every)
        return {sub_id: sub for sub_id, sub in every.items() if sub_id in ids}

    def _every(self) -> dict[str, SubAccount]:
        return cached(self.session, ("sub_accounts", self.agency_id), self._all)

    def _all(self, ids: set[str] | None = None) -> dict[str, SubAccount]:
        s = _sub_accounts.c  # rows, not ORM instances (the close reads them all)
        query = select(_sub_accounts).where(s.agency_id == self.agency_id)
        if ids is not None:
            query = query.where(s.id.in_(sorted(ids)))
        return {row.id: sub_account_of(row) for row in self.session.execute(query)}

    def ids(self) -> list[str]:
        return list(
            self.session.scalars(
                select(SubAccountRow.id)
                .where(SubAccountRow.agency_id == self.agency_id)
                .order_by(SubAccountRow.id)
            )
        )

    def tax_identities(self) -> dict[str, BuyerTaxIdentity]:
        """Through the read cache; loaded alone, four columns (not every sub-account whole)."""
        return dict(cached(self.session, ("tax_identities", self.agency_id), self._identities))

    def _identities(self) -> dict[str, BuyerTaxIdentity]:
        s = _sub_accounts.c
        query = select(s.id, s.country, s.tax_id, s.address_json).where(
            s.agency_id == self.agency_id
        )
        return {row.id: _identity(row) for row in self.session.execute(query)}

    def countries(self) -> dict[str, str]:
        rows = self.session.execute(
            select(SubAccountRow.id, SubAccountRow.country).where(
                SubAccountRow.agency_id == self.agency_id
            )
        )
        # Where Stripe Tax places the sale: a client without a country is placed in the US,
        # as before sub-accounts could leave it out.
        return {sub_id: country or "US" for sub_id, country in rows}

    def save(self, sub: SubAccount, country: str | None, now: datetime) -> None:
        assert sub.agency_id == self.agency_id, "a sub-account is saved through its agency"
        row = self.session.get(SubAccountRow, (sub.agency_id, sub.id))
        if row is None:
            row = SubAccountRow(agency_id=sub.agency_id, id=sub.id, created_at=now, state=sub.state)
            self.session.add(row)
        row.name, row.email, row.country = sub.name, sub.email, country or ""
        identity = sub.tax_identity
        row.tax_id = identity.tax_id
        row.address_json = (
            json.dumps(list(identity.address_lines)) if identity.address_lines else None
        )
        row.limit_campaigns = sub.limits.campaigns
        row.limit_numbers = sub.limits.numbers
        row.limit_parallel_calls = sub.limits.parallel_calls
        _write_caps(row, sub.caps)
        row.top_up_threshold_micros = sub.top_up_threshold_micros
        row.top_up_amount_micros = sub.top_up_amount_micros
        self.session.flush()

    def set_caps(self, sub_account_id: str, caps: Caps) -> None:
        row = self.session.get(SubAccountRow, (self.agency_id, sub_account_id))
        assert row is not None
        _write_caps(row, caps)
        self.session.flush()

    def set_state(
        self, sub_account_id: str, state: str, actor: str, reason: str, at: datetime
    ) -> str:
        key = (self.agency_id, sub_account_id)
        row = self.session.get(SubAccountRow, key, with_for_update=True)
        assert row is not None
        old = row.state
        row.state = state
        latest = self.session.scalar(
            select(func.max(StateChangeRow.changed_at)).where(
                StateChangeRow.agency_id == self.agency_id,
                StateChangeRow.sub_account_id == sub_account_id,
            )
        )
        if latest is not None:  # stored naive; keep the history strictly ordered
            latest = latest.replace(tzinfo=UTC) if latest.tzinfo is None else latest
            if latest >= at:
                at = latest + timedelta(microseconds=1)
        self.session.add(
            StateChangeRow(
                agency_id=self.agency_id,
                sub_account_id=sub_account_id,
                changed_at=at,
                from_state=old,
                to_state=state,
                actor=actor,
                reason=reason,
            )
        )
        self.session.flush()
        return old

    def state_changes(self, sub_account_id: str) -> list[StateChange]:
        rows = self.session.scalars(
            select(StateChangeRow)
            .where(
                StateChangeRow.agency_id == self.agency_id,
                StateChangeRow.sub_account_id == sub_account_id,
            )
            .order_by(StateChangeRow.changed_at)
        )
        return [
            StateChange(r.changed_at, r.from_state, r.to_state, r.actor, r.reason) for r in rows
        ]
