"""calls partitioned by month on PostgreSQL, with the `call_ids` guard table (issue 12)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 14:00:00

On PostgreSQL `calls` becomes `PARTITION BY RANGE (period)`, one partition per agency-local
month (`calls_2026_10` holds period '2026-10'), every key leading with the agency id: the
primary key `(agency_id, call_id, period)` (a partitioned table's unique keys must hold the
partition key), `ix_calls_period (agency_id, period, late, sub_account_id)` and
`ix_calls_late (agency_id, late, billed_period)`. A call id stays unique per agency across
months through `call_ids (agency_id, call_id) PRIMARY KEY`, written with every call in the
same transaction: a concurrent twin still loses its race on a unique key, and a month
detached for archiving keeps its ids (a call sent again is still a duplicate).

Every existing row is carried over, month by month, in this transaction. SQLite keeps one
`calls` table and needs no guard: nothing changes there.
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _partition_sql(period: str) -> str:
    # The same DDL as adapters/db/partitions.py, frozen here as this revision's own.
    year, month = int(period[:4]), int(period[5:7])
    upper = f"{year + month // 12:04d}-{month % 12 + 1:02d}"
    return (
        f"CREATE TABLE calls_{year:04d}_{month:02d} PARTITION OF calls "
        f"FOR VALUES FROM ('{period}') TO ('{upper}')"
    )


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE calls RENAME TO calls_unpartitioned")
    op.execute("ALTER TABLE calls_unpartitioned RENAME CONSTRAINT pk_calls TO pk_calls_old")
    op.execute("DROP INDEX ix_calls_period")
    op.execute("DROP INDEX ix_calls_late")
    op.execute(
        "CREATE TABLE calls (LIKE calls_unpartitioned INCLUDING DEFAULTS) "
        "PARTITION BY RANGE (period)"
    )
    op.execute("ALTER TABLE calls ADD CONSTRAINT pk_calls PRIMARY KEY (agency_id, call_id, period)")
    op.execute("CREATE INDEX ix_calls_period ON calls (agency_id, period, late, sub_account_id)")
    op.execute("CREATE INDEX ix_calls_late ON calls (agency_id, late, billed_period)")
    op.execute(
        "CREATE TABLE call_ids ("
        "agency_id VARCHAR(64) NOT NULL, call_id VARCHAR(200) NOT NULL, "
        "period VARCHAR(7) NOT NULL, CONSTRAINT pk_call_ids PRIMARY KEY (agency_id, call_id))"
    )
    periods = bind.execute(
        text("SELECT DISTINCT period FROM calls_unpartitioned ORDER BY period")
    ).scalars()
    for period in list(periods):
        op.execute(_partition_sql(period))
        op.execute(
            text(
                "INSERT INTO calls SELECT * FROM calls_unpartitioned WHERE period = :p"
            ).bindparams(p=period)
        )
    op.execute(
        "INSERT INTO call_ids (agency_id, call_id, period) "
        "SELECT agency_id, call_id, period FROM calls_unpartitioned"
    )
    op.execute("DROP TABLE calls_unpartitioned")
    op.execute("ANALYZE calls")
    op.execute("ANALYZE call_ids")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE calls RENAME TO calls_partitioned")
    op.execute("ALTER TABLE calls_partitioned RENAME CONSTRAINT pk_calls TO pk_calls_partitioned")
    op.execute("ALTER INDEX ix_calls_period RENAME TO ix_calls_partitioned_period")
    op.execute("ALTER INDEX ix_calls_late RENAME TO ix_calls_partitioned_late")
    op.execute("CREATE TABLE calls (LIKE calls_partitioned INCLUDING DEFAULTS)")
    op.execute("ALTER TABLE calls ADD CONSTRAINT pk_calls PRIMARY KEY (agency_id, call_id)")
    op.execute("CREATE INDEX ix_calls_late ON calls (late, billed_period, agency_id)")
    op.execute("CREATE INDEX ix_calls_period ON calls (period, agency_id, late, sub_account_id)")
    op.execute("INSERT INTO calls SELECT * FROM calls_partitioned")
    op.execute("DROP TABLE calls_partitioned")  # and its partitions
    op.execute("DROP TABLE call_ids")
