"""The agency's usage: rated calls (bulk-inserted through the driver on the import's hot
path), the slots authorizations hold, the per-period counters, the campaigns of a period and
the wholesale it accrued; the sums the close reads in one pass.

On PostgreSQL the hot path has a shape whose plan cannot degrade (issue 12): the call-id
look-ups send one text array (`agency_id = $1 AND call_id = ANY($2)`, the primary key's
prefix, the same plan generic or custom) and the calls are written with `COPY`. SQLite keeps
`IN (...)` lists and executemany."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    JSON,
    String,
    any_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection

from rebill.adapters.db import partitions
from rebill.adapters.db.collection_rows import DunningCaseRow
from rebill.adapters.db.repositories.common import AgencyBound, is_postgresql, prebuilt, table_of
from rebill.adapters.db.repositories.payments import PLATFORM_OWNER
from rebill.adapters.db.repositories.sub_accounts import SqlSubAccountRepository
from rebill.adapters.db.rows import (
    AgencyRow,
    AgencyUsageRow,
    CallReservationRow,
    CallRow,
    InvoiceRow,
    PeriodCampaignRow,
    PeriodCloseRow,
    UsageCounterRow,
    WalletRow,
)
from rebill.domain.dunning import AGENCY_UNPAID, UNPAID_INVOICE
from rebill.domain.errors import ConcurrentWriteError
from rebill.domain.money import micros_per_minor
from rebill.domain.usage import PeriodUsage
from rebill.services.ports.usage import (
    AuthorizationSnapshot,
    CallRecord,
    CallStart,
    CallTotals,
    CampaignUse,
    RatedCall,
    UsageKey,
)

CALL_COLUMNS = (
    "agency_id",
    "call_id",
    "sub_account_id",
    "started_at",
    "duration_seconds",
    "direction",
    "campaign_id",
    "phone_number",
    "status",
    "period",
    "late",
    "retail_billable_seconds",
    "included_seconds",
    "credit_micros",
    "postpaid_micros",
    "postpaid_seconds_e6",
    "retail_rate_micros",
    "retail_rate_decimals",
    "wholesale_billable_seconds",
    "wholesale_cost_micros",
)
TOTAL_KEYS = (
    "agency_id",
    "period",
    "sub_account_id",
    "direction",
    "retail_rate_micros",
    "retail_rate_decimals",
)
TOTAL_SUMS = (
    "calls",
    "postpaid_micros",
    "postpaid_seconds_e6",
    "credit_micros",
    "wholesale_billable_seconds",
    "wholesale_cost_micros",
)
call_insert_batch_max = 5_000
# Up to this many calls go to PostgreSQL as one INSERT (both tables, one round trip) rather
# than two COPYs (two round trips each): a single call's COPYs cost 0.5-0.7 ms of CPU more.
calls_inserted_max = 20
ids_per_array_max = 10_000  # call ids in one JSON array parameter
# check_violation: on a partitioned `calls`, "no partition of relation found for row"
NO_PARTITION_SQLSTATE = "23514"


_RECORD_COLUMNS = CALL_COLUMNS[1:9]  # the call as received: call_id ... status


@cache
def _insert_both_sql(count: int) -> str:
    """`count` calls into `call_ids` and `calls` in one statement (PostgreSQL: the id guard's
    rows in a data-modifying WITH). A call id already taken fails it as the COPY would."""
    ids = ", ".join(["(%s, %s, %s)"] * count)
    row = f"({', '.join(['%s'] * len(CALL_COLUMNS))})"
    return (
        f"WITH ids AS (INSERT INTO call_ids (agency_id, call_id, period) VALUES {ids}) "
        f"INSERT INTO calls ({', '.join(CALL_COLUMNS)}) VALUES {', '.join([row] * count)}"
    )


def _call_values(agency_id: str, rated: RatedCall, as_text: bool) -> tuple[object, ...]:
    """One row of the bulk insert; timestamps exactly as the `UtcDateTime` column stores them
    (naive UTC; text on SQLite)."""
    c, f = rated.call, rated.funding
    at = c.started_at
    at = (at if at.tzinfo is UTC else at.astimezone(UTC)).replace(tzinfo=None)
    stamp: object = at.isoformat(" ", "microseconds") if as_text else at
    return (
        agency_id,
        c.call_id,
        c.sub_account_id,
        stamp,
        c.duration_seconds,
        c.direction,
        c.campaign_id,
        c.phone_number,
        c.status,
        rated.period,
        int(rated.late),
        f.billable_seconds,
        f.included_seconds,
        f.credit_micros,
        f.postpaid_micros,
        f.postpaid_seconds_e6,
        f.rate_micros,
        f.rate_decimals,
        rated.wholesale_billable_seconds,
        rated.wholesale_cost_micros,
    )


def _usage(row: Any) -> PeriodUsage:
    return PeriodUsage(
        row.billable_seconds,
        row.included_used_seconds,
        row.credit_seconds_e6,
        row.postpaid_seconds_e6,
        row.credit_micros,
        row.postpaid_micros,
        row.calls,
    )


class SqlUsageRepository(AgencyBound):
    @staticmethod
    def _id_lists(ids: Sequence[str]) -> list[str]:
        """`ids` as values of the `ids` parameter of `_ids_among`: one JSON array per 10,000 ids
        (json.dumps is C; a driver's list binding, or one bound parameter per id, is not)."""
        size = ids_per_array_max
        return [json.dumps(list(ids[i : i + size])) for i in range(0, len(ids), size)]

    # -- calls ------------------------------------------------------------------------------
    def stored_calls(self, call_ids: Sequence[str]) -> dict[str, CallRecord | None]:
        found: dict[str, CallRecord | None] = {}
        postgresql = is_postgresql(self.session)
        statement = prebuilt("stored_calls", postgresql, _stored_calls)
        connection = self.session.connection()
        first = 1 if postgresql else 0  # the record's columns in order, after `known_id` on PG
        for ids in self._id_lists(call_ids):
            rows = connection.execute(statement, {"agency": self.agency_id, "ids": ids}).all()
            for row in rows:
                if row[first] is None:
                    found[row[0]] = None  # in a detached month: stored, not at hand
                else:
                    found[row[first]] = CallRecord(*row[first:])
        return found

    def insert_calls(self, calls: Sequence[RatedCall]) -> None:
        """Bulk insert straight through the driver (the import's hot path): `COPY` on
        PostgreSQL, executemany on SQLite; then the calls' totals are added up."""
        self._write_calls(calls)
        self._add_totals(calls)

    def _write_calls(self, calls: Sequence[RatedCall]) -> None:
        connection = self.session.connection()
        dialect = connection.dialect
        if dialect.name == "postgresql":
            self._copy_calls(connection, calls)
            return
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        sql = (
            f"INSERT INTO calls ({', '.join(CALL_COLUMNS)}) "
            f"VALUES ({', '.join([marker] * len(CALL_COLUMNS))})"
        )
        as_text = dialect.name == "sqlite"
        for start in range(0, len(calls), call_insert_batch_max):
            rows = [
                _call_values(self.agency_id, rated, as_text)
                for rated in calls[start : start + call_insert_batch_max]
            ]
            connection.exec_driver_sql(sql, rows)

    def _copy_calls(self, connection: Connection, calls: Sequence[RatedCall]) -> None:
        """`COPY` into `call_ids` (the guard of one id per agency across months) and into
        `calls` (routed to its monthly partitions, made first when missing); a few calls (a
        single call, a small batch) as one INSERT into both."""
        if not calls:
            return
        partitions.ensure(connection.engine, {rated.period for rated in calls})
        driver = connection.connection.driver_connection
        assert driver is not None
        agency = self.agency_id
        try:
            with driver.cursor() as cursor:
                if len(calls) <= calls_inserted_max:  # the same rows as the two COPYs below
                    ids = [v for r in calls for v in (agency, r.call.call_id, r.period)]
                    rows = [v for r in calls for v in _call_values(agency, r, False)]
                    cursor.execute(_insert_both_sql(len(calls)), ids + rows)
                    return
                with cursor.copy("COPY call_ids (agency_id, call_id, period) FROM STDIN") as copy:
                    for rated in calls:
                        copy.write_row((agency, rated.call.call_id, rated.period))
                with cursor.copy(f"COPY calls ({', '.join(CALL_COLUMNS)}) FROM STDIN") as copy:
                    for rated in calls:
                        copy.write_row(_call_values(agency, rated, False))
        except Exception as exc:
            if getattr(exc, "sqlstate", None) == NO_PARTITION_SQLSTATE:
                # A month detached by another process since this one saw it attached: run
                # again, and the month's partition is made afresh.
                partitions.forget(connection.engine)
                raise ConcurrentWriteError() from exc
            raise

    def _add_totals(self, calls: Sequence[RatedCall]) -> None:
        """The period's own calls (not late ones) summed into `call_totals`: one upsert per
        (sub-account, period, direction, retail rate), in key order (concurrent batches lock
        the rows in the same order)."""
        sums: dict[tuple[str, str, str, int, int], list[int]] = {}
        for rated in calls:
            if rated.late:
                continue
            c, f = rated.call, rated.funding
            key = (rated.period, c.sub_account_id, c.direction, f.rate_micros, f.rate_decimals)
            total = sums.get(key)
            if total is None:
                total = sums[key] = [0, 0, 0, 0, 0, 0]
            total[0] += 1
            total[1] += f.postpaid_micros
            total[2] += f.postpaid_seconds_e6
            total[3] += f.credit_micros
            total[4] += rated.wholesale_billable_seconds
            total[5] += rated.wholesale_cost_micros
        if not sums:
            return
        connection = self.session.connection()
        marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        columns = (*TOTAL_KEYS, *TOTAL_SUMS)
        connection.exec_driver_sql(
            f"INSERT INTO call_totals ({', '.join(columns)}) "
            f"VALUES ({', '.join([marker] * len(columns))}) "
            f"ON CONFLICT ({', '.join(TOTAL_KEYS)}) DO UPDATE SET "
            + ", ".join(f"{c} = call_totals.{c} + excluded.{c}" for c in TOTAL_SUMS),
            [(self.agency_id, *key, *total) for key, total in sorted(sums.items())],
        )

    def period_call_totals(self, period: str) -> list[CallTotals]:
        """The period's rows of `call_totals` (as many as sub-accounts x directions x rates,
        whatever the number of calls), read as plain rows (integer and text columns: nothing
        for the ORM to convert)."""
        rows = self._period_rows(
            "sub_account_id, direction, retail_rate_micros, retail_rate_decimals, "
            "postpaid_micros, postpaid_seconds_e6, credit_micros, wholesale_billable_seconds, "
            "wholesale_cost_micros",
            "call_totals",
            period,
            " ORDER BY sub_account_id, direction, retail_rate_micros, retail_rate_decimals",
        )
        return [CallTotals(r[0], period, *r[1:]) for r in rows]

    def _period_rows(self, columns: str, table: str, period: str, order: str = "") -> Sequence[Any]:
        """`columns` of the agency's rows of `table` in `period`, as the driver gives them."""
        self.session.flush()
        connection = self.session.connection()
        marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        return connection.exec_driver_sql(
            f"SELECT {columns} FROM {table} WHERE agency_id = {marker} AND period = {marker}"
            + order,
            (self.agency_id, period),
        ).all()

    def claim_late_calls(self, period: str) -> None:
        self.session.execute(
            update(CallRow)
            .where(
                CallRow.agency_id == self.agency_id,
                CallRow.late == 1,
                CallRow.billed_period.is_(None),
                CallRow.period < period,
            )
            .values(billed_period=period)
            .execution_options(synchronize_session=False)
        )

    def late_call_totals(self, period: str) -> list[CallTotals]:
        rows = self.session.execute(
            select(
                CallRow.sub_account_id,
                CallRow.period,
                CallRow.direction,
                func.sum(CallRow.postpaid_micros),
                func.sum(CallRow.postpaid_seconds_e6),
                func.sum(CallRow.credit_micros),
                func.sum(CallRow.wholesale_billable_seconds),
                func.sum(CallRow.wholesale_cost_micros),
            )
            .where(
                CallRow.agency_id == self.agency_id,
                CallRow.late == 1,
                CallRow.billed_period == period,
            )
            .group_by(CallRow.sub_account_id, CallRow.period, CallRow.direction)
        )
        return [CallTotals(r[0], r[1], r[2], 0, 0, *(int(v) for v in r[3:])) for r in rows]

    def call_starts(self, sub_account_id: str, start: datetime, end: datetime) -> list[CallStart]:
        rows = self.session.execute(
            select(CallRow.started_at, CallRow.retail_billable_seconds).where(
                CallRow.agency_id == self.agency_id,
                CallRow.sub_account_id == sub_account_id,
                CallRow.started_at >= start,
                CallRow.started_at < end,
            )
        )
        return [CallStart(at, int(seconds)) for at, seconds in rows]

    def wholesale_cost_by_sub_account(self, period: str) -> dict[str, int]:
        """The platform's voice cost of each sub-account's calls in a period, in micros."""
        rows = self.session.execute(
            select(CallRow.sub_account_id, func.sum(CallRow.wholesale_cost_micros))
            .where(CallRow.period == period, CallRow.agency_id == self.agency_id)
            .group_by(CallRow.sub_account_id)
        )
        return {str(sub): int(total or 0) for sub, total in rows}

    # -- authorizations and their slots -----------------------------------------------------
    def authorization_snapshot(
        self, sub_account_id: str, period: str, now: datetime, call_id: str | None = None
    ) -> AuthorizationSnapshot | None:
        """The sub-account (read cache) and its moving figures, dunning hold included: one
        prebuilt statement."""
        sub = SqlSubAccountRepository(self.session, self.agency_id).get(sub_account_id)
        if sub is None:
            return None
        parameters = {
            "agency": self.agency_id,
            "sub": sub_account_id,
            "period": period,
            "now": now,
            "call": call_id or "",
            "owner": PLATFORM_OWNER,
        }
        row = self.session.connection().execute(_SNAPSHOT, parameters).one()
        billable, included, credit, postpaid, wallet, calls, by_platform, by_agency = row
        return AuthorizationSnapshot(
            sub,
            int(billable or 0),
            int(included or 0),
            int(credit or 0) + int(postpaid or 0),
            int(wallet or 0),
            int(calls or 0),
            AGENCY_UNPAID if by_platform else UNPAID_INVOICE if by_agency else None,
        )

    def reserve_call(self, call_id: str, sub_account_id: str, expires_at: datetime) -> None:
        self.session.merge(
            CallReservationRow(
                agency_id=self.agency_id,
                call_id=call_id,
                sub_account_id=sub_account_id,
                expires_at=expires_at,
            )
        )
        self.session.flush()

    def release_calls(self, call_ids: Sequence[str]) -> None:
        statement = prebuilt("release_calls", is_postgresql(self.session), _release_calls)
        connection = self.session.connection()
        for ids in self._id_lists(call_ids):
            connection.execute(statement, {"agency": self.agency_id, "ids": ids})

    # -- counters, campaigns and the agency's accrued wholesale -----------------------------
    def counters(
        self,
        period: str | None = None,
        keys: Iterable[UsageKey] | None = None,
        for_update: bool = False,
    ) -> dict[UsageKey, PeriodUsage]:
        if keys is not None and period is None:  # the ingestion path: a prebuilt statement
            wanted = list(keys)
            name = "counters_locked" if for_update else "counters"
            pg = is_postgresql(self.session)
            statement = prebuilt(name, pg, lambda pg: _counters(pg and for_update))
            parameters = {
                "agency": self.agency_id,
                "subs": sorted({key.sub_account_id for key in wanted}),
                "periods": sorted({key.period for key in wanted}),
            }
            connection = self.session.connection()
            rows = connection.execute(statement, parameters)
            found = {UsageKey(row.sub_account_id, row.period): _usage(row) for row in rows}
            if for_update and pg and (missing := sorted(set(wanted) - found.keys())):
                found |= self._made_counters(connection, statement, missing)
            return found
        if keys is None and not for_update and period is not None:  # the close: every row
            return self._period_counters(period)
        c = table_of(UsageCounterRow).c  # rows, not ORM instances (the close reads them all)
        query = select(table_of(UsageCounterRow)).where(c.agency_id == self.agency_id)
        if period is not None:
            query = query.where(c.period == period)
        if keys is not None:
            wanted = list(keys)
            subs = sorted({key.sub_account_id for key in wanted})
            periods = sorted({key.period for key in wanted})
            query = query.where(c.sub_account_id.in_(subs), c.period.in_(periods))
        if for_update:
            query = query.with_for_update()
        return {
            UsageKey(row.sub_account_id, row.period): _usage(row)
            for row in self.session.execute(query)
        }

    def _made_counters(
        self, connection: Connection, locked: Any, missing: list[UsageKey]
    ) -> dict[UsageKey, PeriodUsage]:
        """PostgreSQL: the counters a batch opens (a sub-account's first calls of a month),
        made at zero with `INSERT … ON CONFLICT DO NOTHING` in key order and read locked. A
        concurrent batch opening the same ones waits for this one's commit and then reads
        what it stored, instead of failing on the key and being run again whole (issue 12: two
        batch senders at the start of a month ran into four lost races in a row)."""
        marker = "(%s, %s, %s, 0, 0, 0, 0, 0, 0, 0)"
        connection.exec_driver_sql(
            "INSERT INTO usage_counters (agency_id, sub_account_id, period, billable_seconds,"
            " included_used_seconds, credit_seconds_e6, postpaid_seconds_e6, credit_micros,"
            f" postpaid_micros, calls) VALUES {', '.join([marker] * len(missing))}"
            " ON CONFLICT (agency_id, sub_account_id, period) DO NOTHING",
            tuple(v for key in missing for v in (self.agency_id, key.sub_account_id, key.period)),
        )
        parameters = {
            "agency": self.agency_id,
            "subs": sorted({key.sub_account_id for key in missing}),
            "periods": sorted({key.period for key in missing}),
        }
        rows = connection.execute(locked, parameters)
        made = {UsageKey(row.sub_account_id, row.period): _usage(row) for row in rows}
        return {key: made[key] for key in missing}

    def _period_counters(self, period: str) -> dict[UsageKey, PeriodUsage]:
        """Every counter of the period, read as plain rows (integer and text columns)."""
        rows = self._period_rows(
            "sub_account_id, billable_seconds, included_used_seconds, credit_seconds_e6, "
            "postpaid_seconds_e6, credit_micros, postpaid_micros, calls",
            "usage_counters",
            period,
        )
        return {UsageKey(r[0], period): PeriodUsage(*r[1:]) for r in rows}

    def save_counters(self, counters: dict[UsageKey, PeriodUsage], existing: set[UsageKey]) -> None:
        """One bulk UPDATE for the rows that were read, one bulk INSERT for the new ones."""
        old: list[dict[str, object]] = []
        new: list[dict[str, object]] = []
        for key, u in counters.items():
            values = {
                "agency_id": self.agency_id,
                "sub_account_id": key.sub_account_id,
                "period": key.period,
                "billable_seconds": u.billable_seconds,
                "included_used_seconds": u.included_used_seconds,
                "credit_seconds_e6": u.credit_seconds_e6,
                "postpaid_seconds_e6": u.postpaid_seconds_e6,
                "credit_micros": u.credit_micros,
                "postpaid_micros": u.postpaid_micros,
                "calls": u.calls,
            }
            if key in existing:
                old.append({f"key_{name}": values.pop(name) for name in _COUNTER_KEY} | values)
            else:
                new.append(values)
        connection = self.session.connection()
        if old:
            connection.execute(prebuilt("update_counters", False, _update_counters), old)
        if new:
            connection.execute(prebuilt("insert_counters", False, _insert_counters), new)

    def add_campaigns(self, used: set[CampaignUse]) -> None:
        if not used:
            return
        connection = self.session.connection()
        marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        connection.exec_driver_sql(
            "INSERT INTO period_campaigns (agency_id, sub_account_id, period, campaign_id) "
            f"VALUES ({marker}, {marker}, {marker}, {marker}) ON CONFLICT DO NOTHING",
            [(self.agency_id, u.sub_account_id, u.period, u.campaign_id) for u in sorted(used)],
        )

    def campaign_counts(self, period: str) -> dict[str, int]:
        rows = self.session.execute(
            select(PeriodCampaignRow.sub_account_id, func.count())
            .where(
                PeriodCampaignRow.agency_id == self.agency_id, PeriodCampaignRow.period == period
            )
            .group_by(PeriodCampaignRow.sub_account_id)
        )
        return {sub: int(count) for sub, count in rows}

    def add_agency_usage(self, micros_by_period: dict[str, int]) -> None:
        """One upsert per period (in order: concurrent batches take the rows alike). Plain SQL
        through the driver: SQLAlchemy has no cache key for an `ON CONFLICT DO UPDATE`, so the
        Core statement was compiled anew at every request (a sixth of a single call's CPU)."""
        if not micros_by_period:
            return
        connection = self.session.connection()
        marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        connection.exec_driver_sql(
            "INSERT INTO agency_usage (agency_id, period, wholesale_micros) "
            f"VALUES ({marker}, {marker}, {marker}) ON CONFLICT (agency_id, period) "
            "DO UPDATE SET wholesale_micros = agency_usage.wholesale_micros"
            " + excluded.wholesale_micros",
            [(self.agency_id, label, micros) for label, micros in sorted(micros_by_period.items())],
        )

    def exposure_micros(self) -> int:
        agency_id = self.agency_id
        invoiced = self.session.scalar(
            select(func.coalesce(func.sum(InvoiceRow.total_minor), 0)).where(
                InvoiceRow.agency_id == agency_id,
                InvoiceRow.kind == "wholesale",
                InvoiceRow.status == "open",
            )
        )
        currency = (
            self.session.scalar(select(AgencyRow.currency).where(AgencyRow.id == agency_id))
            or "USD"
        )
        closed = select(PeriodCloseRow.period).where(PeriodCloseRow.agency_id == agency_id)
        accrued = self.session.scalar(
            select(func.coalesce(func.sum(AgencyUsageRow.wholesale_micros), 0)).where(
                AgencyUsageRow.agency_id == agency_id, AgencyUsageRow.period.not_in(closed)
            )
        )
        return int(invoiced or 0) * micros_per_minor(currency) + int(accrued or 0)


def _snapshot_statement() -> Any:
    """What an authorization reads that moves with every call, as one statement built once
    (its cache key is computed once): the period's counter, the wallet, the open slots, and
    whether an unpaid invoice holds the calls -- the platform's invoice to the agency, or the
    agency's to this sub-account: a suspended dunning case whose invoice is still open (a
    payment lifts the hold at once)."""
    counter, wallet, slot = (
        table_of(UsageCounterRow).c,
        table_of(WalletRow).c,
        table_of(CallReservationRow).c,
    )
    case, invoice = table_of(DunningCaseRow).c, table_of(InvoiceRow).c
    agency: Any = bindparam("agency")
    sub: Any = bindparam("sub")

    def one(column: Any, *where: Any) -> Any:
        return select(column).where(*where).scalar_subquery()

    def held(party: Any) -> Any:
        return exists().where(
            case.agency_id == agency,
            case.party_id == party,
            case.suspended_at.is_not(None),
            case.closed_at.is_(None),
            invoice.agency_id == case.agency_id,
            invoice.number == case.number,
            invoice.status == "open",
        )

    counted = (
        counter.agency_id == agency,
        counter.sub_account_id == sub,
        counter.period == bindparam("period"),
    )
    return select(
        one(counter.billable_seconds, *counted),
        one(counter.included_used_seconds, *counted),
        one(counter.credit_micros, *counted),
        one(counter.postpaid_micros, *counted),
        one(wallet.balance_micros, wallet.agency_id == agency, wallet.sub_account_id == sub),
        one(
            func.count(),
            slot.agency_id == agency,
            slot.sub_account_id == sub,
            slot.expires_at > bindparam("now", type_=slot.expires_at.type),
            slot.call_id != bindparam("call"),
        ),
        held(bindparam("owner")),
        held(sub),
    )


_SNAPSHOT = _snapshot_statement()


def _ids_among(column: Any, postgresql: bool) -> Any:
    """`column` among the `ids` parameter, a JSON array: on PostgreSQL unpacked into
    `= ANY(ARRAY(...))` (an index condition, one plan whatever the count); on SQLite
    `IN (SELECT value FROM json_each(...))` (one parameter, the index probed per id)."""
    if postgresql:
        elements = func.json_array_elements_text(cast(bindparam("ids", type_=String), JSON))
        return column == any_(func.array(select(elements).scalar_subquery()))
    each = func.json_each(bindparam("ids", type_=String)).table_valued("value")
    return column.in_(select(each.c.value))


def _stored_calls(postgresql: bool) -> Any:
    """On SQLite the calls by id. On PostgreSQL the ids found in `call_ids` (one index for
    every month), joined to their calls on the whole primary key (the partition is pruned per
    row); a call of a detached month comes back with its columns null."""
    table = table_of(CallRow)
    columns = [table.c[name] for name in _RECORD_COLUMNS]
    if not postgresql:
        return select(*columns).where(
            table.c.agency_id == bindparam("agency"), _ids_among(table.c.call_id, postgresql)
        )
    ids = partitions.call_ids_table
    joined = ids.outerjoin(
        table,
        (table.c.agency_id == ids.c.agency_id)
        & (table.c.call_id == ids.c.call_id)
        & (table.c.period == ids.c.period),
    )
    return (
        select(ids.c.call_id.label("known_id"), *columns)
        .select_from(joined)
        .where(ids.c.agency_id == bindparam("agency"), _ids_among(ids.c.call_id, postgresql))
    )


def _release_calls(postgresql: bool) -> Any:
    table = table_of(CallReservationRow)
    return delete(table).where(
        table.c.agency_id == bindparam("agency"), _ids_among(table.c.call_id, postgresql)
    )


def _counters(locked: bool) -> Any:
    table = table_of(UsageCounterRow)
    query = select(table).where(
        table.c.agency_id == bindparam("agency"),
        table.c.sub_account_id.in_(bindparam("subs", expanding=True)),
        table.c.period.in_(bindparam("periods", expanding=True)),
    )
    # Locked in key order: concurrent batches take their common rows in the same order.
    return (
        query.order_by(table.c.sub_account_id, table.c.period).with_for_update()
        if locked
        else query
    )


_COUNTER_KEY = ("agency_id", "sub_account_id", "period")


def _update_counters(_: bool) -> Any:
    table = table_of(UsageCounterRow)
    return (
        update(table)
        .where(*(table.c[name] == bindparam(f"key_{name}") for name in _COUNTER_KEY))
        .values({c.name: bindparam(c.name) for c in table.c if c.name not in _COUNTER_KEY})
    )


def _insert_counters(_: bool) -> Any:
    return insert(table_of(UsageCounterRow))
