"""dunning policies and cases, Stripe Tax records, disputes (issue 14)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 07:40:00

Chained after 0013 at merge (written beside 0012 and 0013 on its own branch).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rebill.adapters.db.rows

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dunning_policies",
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("retry_days", sa.String(length=100), nullable=False),
        sa.Column("grace_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", rebill.adapters.db.rows.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", name=op.f("pk_dunning_policies")),
    )
    op.create_table(
        "dunning_cases",
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("party_id", sa.String(length=64), nullable=False),
        sa.Column("first_failed_at", rebill.adapters.db.rows.UtcDateTime(), nullable=False),
        sa.Column("retries_done", sa.Integer(), nullable=False),
        sa.Column("failures_told", sa.Integer(), nullable=False),
        sa.Column("suspended_at", rebill.adapters.db.rows.UtcDateTime(), nullable=True),
        sa.Column("closed_at", rebill.adapters.db.rows.UtcDateTime(), nullable=True),
        sa.Column("updated_at", rebill.adapters.db.rows.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("agency_id", "number", name=op.f("pk_dunning_cases")),
    )
    with op.batch_alter_table("dunning_cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dunning_cases_closed_at"), ["closed_at"], unique=False)
        batch_op.create_index("ix_dunning_cases_party", ["agency_id", "party_id"], unique=False)
    op.create_table(
        "tax_records",
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("original", sa.String(length=40), nullable=True),
        sa.Column("calculation_id", sa.String(length=100), nullable=True),
        sa.Column("transaction_id", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", rebill.adapters.db.rows.UtcDateTime(), nullable=False),
        sa.Column("updated_at", rebill.adapters.db.rows.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("agency_id", "number", name=op.f("pk_tax_records")),
    )
    with op.batch_alter_table("tax_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tax_records_status"), ["status"], unique=False)
    op.create_table(
        "disputes",
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("credit_note", sa.String(length=40), nullable=True),
        sa.Column("created_at", rebill.adapters.db.rows.UtcDateTime(), nullable=False),
        sa.Column("updated_at", rebill.adapters.db.rows.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("agency_id", "id", name=op.f("pk_disputes")),
    )
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disputes_number"), ["number"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disputes_number"))
    op.drop_table("disputes")
    with op.batch_alter_table("tax_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tax_records_status"))
    op.drop_table("tax_records")
    with op.batch_alter_table("dunning_cases", schema=None) as batch_op:
        batch_op.drop_index("ix_dunning_cases_party")
        batch_op.drop_index(batch_op.f("ix_dunning_cases_closed_at"))
    op.drop_table("dunning_cases")
    op.drop_table("dunning_policies")
