"""plan versions: a plan's earlier terms kept for the clients on them (issue 15)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 14:00:00

A change to a plan in use may take effect "from the next period" or for "new clients only":
the old terms are kept as a hidden row of `plans` (`version_of` the plan, its `version`-th
terms, `superseded_at` when they stopped applying to new subscriptions). Columns are added,
not the table rebuilt, so the read cache's triggers on `plans` stay as they are.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rebill.adapters.db.rows
from rebill.adapters.db.read_cache import trigger_sql

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("plans", sa.Column("version_of", sa.String(length=64), nullable=True))
    op.add_column("plans", sa.Column("version", sa.Integer(), nullable=True))
    op.add_column(
        "plans",
        sa.Column("superseded_at", rebill.adapters.db.rows.UtcDateTime(), nullable=True),
    )


def downgrade() -> None:
    # Back to one row per plan: subscriptions on an earlier version return to the plan.
    op.execute(
        "UPDATE subscriptions SET plan_id = (SELECT p.version_of FROM plans p "
        "WHERE p.agency_id = subscriptions.agency_id AND p.id = subscriptions.plan_id) "
        "WHERE plan_id IN (SELECT id FROM plans WHERE version_of IS NOT NULL)"
    )
    op.execute(
        "DELETE FROM plan_voice_rates WHERE EXISTS (SELECT 1 FROM plans p WHERE "
        "p.agency_id = plan_voice_rates.agency_id AND p.id = plan_voice_rates.plan_id "
        "AND p.version_of IS NOT NULL)"
    )
    op.execute("DELETE FROM plans WHERE version_of IS NOT NULL")
    with op.batch_alter_table("plans") as batch:
        batch.drop_column("superseded_at")
        batch.drop_column("version")
        batch.drop_column("version_of")
    # SQLite's batch mode rebuilt `plans`, dropping its read-cache triggers: put them back.
    for statement in trigger_sql(op.get_bind().dialect.name, ("plans",)):
        op.execute(statement)
