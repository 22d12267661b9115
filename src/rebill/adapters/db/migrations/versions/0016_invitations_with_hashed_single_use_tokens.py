"""invitations: single-use, expiring links to set one's own password (issue 15)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 10:24:29

Only the SHA-256 of a link's token is stored (unique: the link's look-up).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rebill.adapters.db.rows

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invitations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("sub_account_id", sa.String(length=64), nullable=True),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("invited_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", rebill.adapters.db.rows.UtcDateTime(), nullable=False),
        sa.Column("expires_at", rebill.adapters.db.rows.UtcDateTime(), nullable=False),
        sa.Column("ended_at", rebill.adapters.db.rows.UtcDateTime(), nullable=True),
        sa.Column("user_id", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_invitations_token_sha256")),
    )
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_invitations_agency_created", ["agency_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_invitations_agency_email", ["agency_id", "email"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_index("ix_invitations_agency_email")
        batch_op.drop_index("ix_invitations_agency_created")

    op.drop_table("invitations")
