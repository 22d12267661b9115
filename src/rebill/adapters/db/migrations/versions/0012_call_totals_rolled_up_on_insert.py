"""call totals: the period's own calls summed per sub-account, direction and retail rate,
kept up to date on insert (the close reads them instead of scanning the calls; issue 12)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 07:40:00

Existing calls are summed into the new table in one INSERT ... SELECT ... GROUP BY, so a
database migrated with calls in it closes exactly as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here (not imported): a migration keeps the schema of its own day.
KEYS = "agency_id, period, sub_account_id, direction, retail_rate_micros, retail_rate_decimals"
SUMS = (
    "postpaid_micros, postpaid_seconds_e6, credit_micros, wholesale_billable_seconds, "
    "wholesale_cost_micros"
)


def upgrade() -> None:
    op.create_table(
        "call_totals",
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("sub_account_id", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("retail_rate_micros", sa.BigInteger(), nullable=False),
        sa.Column("retail_rate_decimals", sa.Integer(), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("postpaid_micros", sa.BigInteger(), nullable=False),
        sa.Column("postpaid_seconds_e6", sa.BigInteger(), nullable=False),
        sa.Column("credit_micros", sa.BigInteger(), nullable=False),
        sa.Column("wholesale_billable_seconds", sa.BigInteger(), nullable=False),
        sa.Column("wholesale_cost_micros", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*KEYS.split(", "), name=op.f("pk_call_totals")),
    )
    op.execute(
        f"INSERT INTO call_totals ({KEYS}, calls, {SUMS}) "
        f"SELECT {KEYS}, COUNT(*), "
        + ", ".join(f"SUM({c})" for c in SUMS.split(", "))
        + f" FROM calls WHERE late = 0 GROUP BY {KEYS}"
    )


def downgrade() -> None:
    op.drop_table("call_totals")
