"""The agency's journal: entries and their postings, appended in bulk or claimed by key in one
statement (a replay is a no-op), and the balances derived from postings; the platform's check
that every entry balances."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from rebill.adapters.db.repositories.common import (
    AgencyBound,
    insert_ignoring_duplicates,
    is_postgresql,
    utc_value,
    write_rows,
)
from rebill.adapters.db.rows import JournalEntryRow, PostingRow
from rebill.domain.ledger import JournalEntry, Posting
from rebill.services.ports.ledger import EntryRef

description_length_max = 300
ENTRY_COLUMNS = ("agency_id", "idempotency_key", "description", "occurred_at", "currency")
POSTING_COLUMNS = (
    "agency_id",
    "idempotency_key",
    "position",
    "account",
    "amount_micros",
    "currency",
)


class SqlLedgerRepository(AgencyBound):
    def has_entry(self, key: str) -> bool:
        return self.session.get(JournalEntryRow, (self.agency_id, key)) is not None

    def post(self, entry: JournalEntry) -> bool:
        if self.has_entry(entry.idempotency_key):
            return False
        self.post_many([entry])
        return True

    def post_many(self, entries: Sequence[JournalEntry]) -> None:
        """Entries and their postings, each table in one statement (`write_rows`), the rows
        made as the statement takes them."""
        if not entries:
            return
        assert all(e.agency_id == self.agency_id for e in entries), "another agency's entry"
        as_text = not is_postgresql(self.session)
        instants: dict[datetime, object] = {}  # a close's entries share their instant

        def entry_row(e: JournalEntry) -> tuple[object, ...]:
            at = instants.get(e.occurred_at)
            if at is None:
                at = instants[e.occurred_at] = utc_value(e.occurred_at, as_text)
            return (
                e.agency_id,
                e.idempotency_key,
                e.description[:description_length_max],
                at,
                e.currency,
            )

        write_rows(self.session, "journal_entries", ENTRY_COLUMNS, map(entry_row, entries))
        if any(e.postings for e in entries):
            postings = (
                (e.agency_id, e.idempotency_key, position, p.account, p.amount_micros, e.currency)
                for e in entries
                for position, p in enumerate(e.postings)
            )
            write_rows(self.session, "postings", POSTING_COLUMNS, postings)

    def claim(self, key: str, description: str, occurred_at: datetime, currency: str) -> bool:
        values = {
            "agency_id": self.agency_id,
            "idempotency_key": key,
            "description": description[:description_length_max],
            "occurred_at": occurred_at,
            "currency": currency,
        }
        statement = insert_ignoring_duplicates(self.session, JournalEntryRow, values)
        statement = statement.returning(JournalEntryRow.idempotency_key)
        return self.session.execute(statement).first() is not None

    def add_postings(self, key: str, currency: str, postings: Sequence[Posting]) -> None:
        assert sum(p.amount_micros for p in postings) == 0, "postings must balance"
        self.session.execute(
            insert(PostingRow),
            [
                {
                    "agency_id": self.agency_id,
                    "idempotency_key": key,
                    "position": position,
                    "account": p.account,
                    "amount_micros": p.amount_micros,
                    "currency": currency,
                }
                for position, p in enumerate(postings)
            ],
        )

    def entry_amount(self, key: str, account: str) -> int | None:
        if not self.has_entry(key):
            return None
        total = self.session.scalar(
            select(func.coalesce(func.sum(PostingRow.amount_micros), 0)).where(
                PostingRow.agency_id == self.agency_id,
                PostingRow.idempotency_key == key,
                PostingRow.account == account,
            )
        )
        return int(total or 0)

    def balance_micros(self, account: str) -> int:
        total = self.session.scalar(
            select(func.coalesce(func.sum(PostingRow.amount_micros), 0)).where(
                PostingRow.agency_id == self.agency_id, PostingRow.account == account
            )
        )
        return int(total or 0)

    def balances(self, prefix: str) -> dict[str, int]:
        rows = self.session.execute(
            select(PostingRow.account, func.sum(PostingRow.amount_micros))
            .where(PostingRow.agency_id == self.agency_id, PostingRow.account.startswith(prefix))
            .group_by(PostingRow.account)
        )
        return {account: int(total) for account, total in rows}


class SqlLedgerCheck:
    def __init__(self, session: Session) -> None:
        self.session = session

    def unbalanced_entries(self) -> list[EntryRef]:
        rows = self.session.execute(
            select(PostingRow.agency_id, PostingRow.idempotency_key)
            .group_by(PostingRow.agency_id, PostingRow.idempotency_key, PostingRow.currency)
            .having(func.sum(PostingRow.amount_micros) != 0)
        )
        return [EntryRef(agency_id, key) for agency_id, key in rows]
