"""buyer tax identity: sub-accounts' tax ID and address; invoices' tax treatment and buyer

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 07:40:00

Sub-accounts already carry `country` ("" from now on when none was given). Calls already
carry `campaign_id` and `period_campaigns` already records the campaigns open in a period, so
campaigns need no schema change (issue 14).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sub_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tax_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("address_json", sa.Text(), nullable=True))
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tax_treatment", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("buyer_json", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_column("buyer_json")
        batch_op.drop_column("tax_treatment")
    with op.batch_alter_table("sub_accounts", schema=None) as batch_op:
        batch_op.drop_column("address_json")
        batch_op.drop_column("tax_id")
