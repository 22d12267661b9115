"""The agency's closed periods: one close row (the profit report's totals) and one usage row
per sub-account (its summary as JSON, its revenue and cost)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import select

from rebill.adapters.db.read_cache import cached
from rebill.adapters.db.repositories.common import (
    AgencyBound,
    insert_rows,
    is_postgresql,
    utc_value,
    write_rows,
)
from rebill.adapters.db.rows import PeriodCloseRow, PeriodUsageRow
from rebill.services.ports.periods import PeriodClose, PeriodUsageLine

CLOSE_COLUMNS = (
    "agency_id",
    "period",
    "closed_at",
    "wholesale_invoice_number",
    "revenue_minor",
    "cost_minor",
)
USAGE_COLUMNS = (
    "agency_id",
    "period",
    "sub_account_id",
    "usage_json",
    "revenue_minor",
    "cost_minor",
)


class SqlPeriodRepository(AgencyBound):
    def close_of(self, period: str) -> PeriodClose | None:
        row = self.session.get(PeriodCloseRow, (self.agency_id, period))
        if row is None:
            return None
        return PeriodClose(
            row.period,
            row.closed_at,
            row.wholesale_invoice_number,
            row.revenue_minor,
            row.cost_minor,
        )

    def closed(self) -> list[str]:
        return list(cached(self.session, ("closed", self.agency_id), self._closed))

    def _closed(self) -> list[str]:
        return list(
            self.session.scalars(
                select(PeriodCloseRow.period)
                .where(PeriodCloseRow.agency_id == self.agency_id)
                .order_by(PeriodCloseRow.period)
            )
        )

    def save_close(self, close: PeriodClose) -> None:
        """One INSERT through the driver (seen by the read cache: the table is cached)."""
        insert_rows(
            self.session,
            "period_closes",
            CLOSE_COLUMNS,
            [
                (
                    self.agency_id,
                    close.period,
                    utc_value(close.closed_at, not is_postgresql(self.session)),
                    close.wholesale_invoice_number,
                    close.revenue_minor,
                    close.cost_minor,
                )
            ],
        )

    def save_usage(self, period: str, lines: Sequence[PeriodUsageLine]) -> None:
        """In one statement (`write_rows`)."""
        if not lines:
            return
        write_rows(
            self.session,
            "period_usage",
            USAGE_COLUMNS,
            (
                (
                    self.agency_id,
                    period,
                    line.sub_account_id,
                    json.dumps(line.usage),
                    line.revenue_minor,
                    line.cost_minor,
                )
                for line in lines
            ),
        )

    def usage(self, period: str) -> list[PeriodUsageLine]:
        rows = self.session.scalars(
            select(PeriodUsageRow)
            .where(PeriodUsageRow.agency_id == self.agency_id, PeriodUsageRow.period == period)
            .order_by(PeriodUsageRow.sub_account_id)
        )
        return [
            PeriodUsageLine(
                r.sub_account_id, json.loads(r.usage_json), r.revenue_minor, r.cost_minor
            )
            for r in rows
        ]
