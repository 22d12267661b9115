"""The command line's quick reads (`services.views.listing`) through SQLAlchemy Core: the
usage summary and the invoice list, in one read-only transaction. The tables are declared
here with only the columns these reads use (names and types checked against the ORM rows by
tests/unit/test_listing_tables.py), so that a read imports neither `sqlalchemy.orm` nor the
declarative rows of `rows.py`. The queries are the ORM repositories', written in Core (but
for the invoice lines: those of the invoices read, joined, not every line of their agencies)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    and_,
    func,
    select,
)
from sqlalchemy.engine import Connection, Engine

from rebill.adapters.db.engine import reading
from rebill.adapters.db.types import UtcDateTime
from rebill.services.views.listing import ListedInvoice, ListedLine, Listing, ListingReader

if TYPE_CHECKING:
    # The summary's records, imported where they are made: the invoice list needs neither.
    from rebill.domain.charges import HeldNumber
    from rebill.domain.usage import PeriodUsage

metadata = MetaData()

agencies = Table(
    "agencies",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("timezone", String(64), nullable=False),
)
sub_accounts = Table(
    "sub_accounts",
    metadata,
    Column("agency_id", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
)
phone_numbers = Table(
    "phone_numbers",
    metadata,
    Column("agency_id", String(64), primary_key=True),
    Column("e164", String(20), primary_key=True),
    Column("rented_at", UtcDateTime, primary_key=True),
    Column("sub_account_id", String(64), nullable=False),
    Column("number_type", String(16), nullable=False),
    Column("released_at", UtcDateTime, nullable=True),
)
usage_counters = Table(
    "usage_counters",
    metadata,
    Column("agency_id", String(64), primary_key=True),
    Column("sub_account_id", String(64), primary_key=True),
    Column("period", String(7), primary_key=True),
    Column("billable_seconds", BigInteger, nullable=False),
    Column("included_used_seconds", BigInteger, nullable=False),
    Column("credit_seconds_e6", BigInteger, nullable=False),
    Column("postpaid_seconds_e6", BigInteger, nullable=False),
    Column("credit_micros", BigInteger, nullable=False),
    Column("postpaid_micros", BigInteger, nullable=False),
    Column("calls", BigInteger, nullable=False),
)
period_campaigns = Table(
    "period_campaigns",
    metadata,
    Column("agency_id", String(64), primary_key=True),
    Column("sub_account_id", String(64), primary_key=True),
    Column("period", String(7), primary_key=True),
    Column("campaign_id", String(200), primary_key=True),
)
period_closes = Table(
    "period_closes",
    metadata,
    Column("agency_id", String(64), primary_key=True),
    Column("period", String(7), primary_key=True),
)
period_usage = Table(
    "period_usage",
    metadata,
    Column("agency_id", String(64), primary_key=True),
    Column("period", String(7), primary_key=True),
    Column("sub_account_id", String(64), primary_key=True),
    Column("usage_json", Text, nullable=False),
)
invoices = Table(
    "invoices",
    metadata,
    Column("agency_id", String(64), primary_key=True),
    Column("number", String(40), primary_key=True),
    Column("issuer", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("sub_account_id", String(64), nullable=True),
    Column("period", String(7), nullable=True),
    Column("currency", String(3), nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("subtotal_minor", BigInteger, nullable=False),
    Column("tax_minor", BigInteger, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("usage_json", Text, nullable=True),
    Column("credit_of", String(40), nullable=True),
)
invoice_lines = Table(
    "invoice_lines",
    metadata,
    Column("agency_id", String(64), primary_key=True),
    Column("number", String(40), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("code", String(40), nullable=False),
    Column("description", String(300), nullable=False),
    Column("quantity", String(32), nullable=False),
    Column("unit_price", String(32), nullable=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("tax_minor", BigInteger, nullable=False),
)


def listing_reader(engine: Engine) -> ListingReader:
    """Each reading one connection and one transaction, rolled back when it ends (nothing is
    written); on SQLite a deferred one (`engine.reading`), which reads beside a writer instead
    of queuing behind it."""

    @contextmanager
    def read() -> Iterator[Listing]:
        with reading(), engine.connect() as connection:
            yield SqlListing(connection)

    return read


class SqlListing:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def for_agency(self, agency_id: str) -> SqlAgencyListing:
        assert agency_id, "an agency's reads need its id"
        return SqlAgencyListing(self.connection, agency_id)

    def platform_invoices(self, period: str | None) -> list[ListedInvoice]:
        return _find_invoices(self.connection, None, period)


class SqlAgencyListing:
    def __init__(self, connection: Connection, agency_id: str) -> None:
        self.connection = connection
        self.agency_id = agency_id

    def timezone(self) -> str | None:
        found = self.connection.scalar(
            select(agencies.c.timezone).where(agencies.c.id == self.agency_id)
        )
        return None if found is None else str(found)

    def closed(self, period: str) -> bool:
        query = select(period_closes.c.period).where(
            period_closes.c.agency_id == self.agency_id, period_closes.c.period == period
        )
        return self.connection.scalar(query) is not None

    def closed_usage(self, period: str) -> list[tuple[str, dict[str, Any]]]:
        rows = self.connection.execute(
            select(period_usage.c.sub_account_id, period_usage.c.usage_json)
            .where(period_usage.c.agency_id == self.agency_id, period_usage.c.period == period)
            .order_by(period_usage.c.sub_account_id)
        )
        return [(sub, json.loads(usage)) for sub, usage in rows]

    def sub_account_ids(self) -> list[str]:
        return list(
            self.connection.scalars(
                select(sub_accounts.c.id)
                .where(sub_accounts.c.agency_id == self.agency_id)
                .order_by(sub_accounts.c.id)
            )
        )

    def counters(self, period: str) -> dict[str, PeriodUsage]:
        from rebill.domain.usage import PeriodUsage

        c = usage_counters.c
        rows = self.connection.execute(
            select(
                c.sub_account_id,
                c.billable_seconds,
                c.included_used_seconds,
                c.credit_seconds_e6,
                c.postpaid_seconds_e6,
                c.credit_micros,
                c.postpaid_micros,
                c.calls,
            ).where(c.agency_id == self.agency_id, c.period == period)
        )
        return {sub: PeriodUsage(*figures) for sub, *figures in rows}

    def numbers(self) -> dict[str, list[HeldNumber]]:
        from rebill.domain.charges import HeldNumber

        c = phone_numbers.c
        result: dict[str, list[HeldNumber]] = defaultdict(list)
        for sub, *number in self.connection.execute(
            select(c.sub_account_id, c.e164, c.number_type, c.rented_at, c.released_at)
            .where(c.agency_id == self.agency_id)
            .order_by(c.rented_at, c.e164)
        ):
            result[sub].append(HeldNumber(*number))
        return result

    def campaign_counts(self, period: str) -> dict[str, int]:
        c = period_campaigns.c
        rows = self.connection.execute(
            select(c.sub_account_id, func.count())
            .where(c.agency_id == self.agency_id, c.period == period)
            .group_by(c.sub_account_id)
        )
        return {sub: int(count) for sub, count in rows}

    def invoices(self, period: str | None) -> list[ListedInvoice]:
        return _find_invoices(self.connection, self.agency_id, period)


def _filtered(query: Select[Any], agency_id: str | None, period: str | None) -> Select[Any]:
    if agency_id is not None:
        query = query.where(invoices.c.agency_id == agency_id)
    if period:
        query = query.where(invoices.c.period == period)
    return query


def _find_invoices(
    connection: Connection, agency_id: str | None, period: str | None
) -> list[ListedInvoice]:
    """As `repositories.invoices.find_invoices`: the documents by issue time then number,
    each with its lines by position."""
    i, ln = invoices.c, invoice_lines.c
    found = connection.execute(
        _filtered(select(invoices), agency_id, period).order_by(i.issued_at, i.number)
    ).all()
    lines: dict[tuple[str, str], list[ListedLine]] = defaultdict(list)
    if found:
        joined = invoice_lines.join(
            invoices, and_(ln.agency_id == i.agency_id, ln.number == i.number)
        )
        query = select(
            ln.agency_id,
            ln.number,
            ln.code,
            ln.description,
            ln.quantity,
            ln.unit_price,
            ln.amount_minor,
            ln.tax_minor,
        ).select_from(joined)
        for agency, number, *line in connection.execute(
            _filtered(query, agency_id, period).order_by(ln.number, ln.position)
        ):
            lines[(agency, number)].append(ListedLine(*line))
    return [
        ListedInvoice(
            number=r.number,
            kind=r.kind,
            issuer=r.issuer,
            agency_id=r.agency_id,
            sub_account_id=r.sub_account_id,
            period=r.period,
            issued_at=r.issued_at,
            status=r.status,
            currency=r.currency,
            lines=tuple(lines[(r.agency_id, r.number)]),
            subtotal_minor=r.subtotal_minor,
            tax_minor=r.tax_minor,
            total_minor=r.total_minor,
            usage=json.loads(r.usage_json) if r.usage_json else None,
            credit_of=r.credit_of,
        )
        for r in found
    ]
