"""custom domains with one owner each

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 02:10:00

Domains were a free-text field of an agency's brand: the first agency whose brand named a host
won it. They move to `custom_domains`, active, first come (by agency id) first served; a
second claim of the same host is dropped (its agency can ask again).
"""

import json
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import rebill.adapters.db.rows

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    domains = op.create_table(
        "custom_domains",
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("requested_at", rebill.adapters.db.rows.UtcDateTime(), nullable=False),
        sa.Column("activated_at", rebill.adapters.db.rows.UtcDateTime(), nullable=True),
        sa.Column("active_domain", sa.String(length=253), nullable=True),
        sa.PrimaryKeyConstraint("agency_id", "domain"),
        sa.UniqueConstraint("active_domain"),
    )
    bind = op.get_bind()
    now = datetime.now(UTC)
    taken: set[str] = set()
    rows = []
    for agency_id, brand_json in bind.execute(
        sa.text("SELECT id, brand_json FROM agencies ORDER BY id")
    ):
        domain = (json.loads(brand_json or "{}") or {}).get("domain")
        if not domain or domain in taken:
            continue
        taken.add(domain)
        rows.append(
            {
                "agency_id": agency_id,
                "domain": domain,
                "status": "active",
                "token": secrets.token_hex(16),
                "requested_at": now,
                "activated_at": now,
                "active_domain": domain,
            }
        )
    if rows:
        op.bulk_insert(domains, rows)


def downgrade() -> None:
    op.drop_table("custom_domains")
