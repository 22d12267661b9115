"""cache version: one row that triggers bump on every change of the tables the read cache
holds (issue 13: keys, agencies, plans, histories, sub-accounts, wholesale card, closes)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 10:40:00

The table list is this revision's own: a later migration that adds a cached table, or rebuilds
one (SQLite batch mode drops its triggers), runs `trigger_sql` again for it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from rebill.adapters.db.read_cache import trigger_sql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "platform",
    "agencies",
    "api_keys",
    "plans",
    "plan_voice_rates",
    "subscriptions",
    "sub_accounts",
    "wholesale_voice_rates",
    "wholesale_number_prices",
    "period_closes",
)


def upgrade() -> None:
    op.create_table(
        "cache_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cache_version")),
    )
    op.execute("INSERT INTO cache_version (id, version) VALUES (1, 1)")
    for statement in trigger_sql(op.get_bind().dialect.name, TABLES):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in TABLES:
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS bump_cache_version ON {table}")
        else:
            for action in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS bump_cache_version_{table}_{action}")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS rebill_bump_cache_version()")
    op.drop_table("cache_version")
