"""wholesale schedule: a change of the platform's card from a later period on (issue 15)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 17:00:00

The operator may change the wholesale card "from period P" instead of at once. The new rates
and prices are kept as wholesale rows of scope `@P`; this table lists the scheduled periods
with the card's agency fee, who scheduled it and when. It is a cached table (read-cache
triggers), as the wholesale rows are.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rebill.adapters.db.rows
from rebill.adapters.db.read_cache import trigger_sql

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wholesale_schedule",
        sa.Column("effective_period", sa.String(length=7), nullable=False),
        sa.Column("agency_monthly_fee_micros", sa.BigInteger(), nullable=False),
        sa.Column("scheduled_at", rebill.adapters.db.rows.UtcDateTime(), nullable=False),
        sa.Column("scheduled_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("effective_period", name=op.f("pk_wholesale_schedule")),
    )
    for statement in trigger_sql(op.get_bind().dialect.name, ("wholesale_schedule",)):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DELETE FROM wholesale_voice_rates WHERE scope LIKE '@%'")
    op.execute("DELETE FROM wholesale_number_prices WHERE scope LIKE '@%'")
    op.drop_table("wholesale_schedule")
