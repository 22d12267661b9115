"""The SQL side of Connect link states: the secret rebill generates when REBILL_SECRET_KEY is
unset (stored once per database, first writer wins) and the nonces of states already used."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from rebill.adapters.db.rows import GatewayLinkStateRow, PlatformSecretRow

LINK_STATE_SECRET = "connect_link_state"


class SqlLinkStates:
    """Joins the unit of work's transaction, as `SqlStore` does."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _insert_ignoring_duplicates(self, row: Any, values: dict[str, Any]) -> bool:
        """One INSERT … ON CONFLICT DO NOTHING; False when the key was there already (a
        concurrent writer waits for the first one's commit, then sees its row)."""
        if self.session.get_bind().dialect.name == "postgresql":
            statement: Any = pg_insert(row).values(**values)
        else:
            statement = sqlite_insert(row).values(**values)
        statement = statement.on_conflict_do_nothing().returning(*row.__table__.primary_key)
        return self.session.execute(statement).first() is not None

    def signing_secret(self, candidate: str, now: datetime) -> str:
        stored = self.session.scalar(
            select(PlatformSecretRow.value).where(PlatformSecretRow.name == LINK_STATE_SECRET)
        )
        if stored is not None:
            return str(stored)
        values = {"name": LINK_STATE_SECRET, "value": candidate, "created_at": now}
        if self._insert_ignoring_duplicates(PlatformSecretRow, values):
            return candidate
        return str(
            self.session.scalar(
                select(PlatformSecretRow.value).where(PlatformSecretRow.name == LINK_STATE_SECRET)
            )
        )

    def consume(
        self, agency_id: str, nonce: str, purpose: str, expires_at: datetime, now: datetime
    ) -> bool:
        self.session.execute(
            delete(GatewayLinkStateRow).where(GatewayLinkStateRow.expires_at < now)
        )
        values = {
            "agency_id": agency_id,
            "nonce": nonce,
            "purpose": purpose,
            "expires_at": expires_at,
            "used_at": now,
        }
        return self._insert_ignoring_duplicates(GatewayLinkStateRow, values)
