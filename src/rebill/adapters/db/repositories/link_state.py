"""The SQL side of Connect link states: the secret rebill generates when REBILL_SECRET_KEY is
unset (stored once per database, first writer wins) and the nonces of an agency's states
already used."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from rebill.adapters.db.repositories.common import AgencyBound, insert_ignoring_duplicates
from rebill.adapters.db.rows import GatewayLinkStateRow, PlatformSecretRow

LINK_STATE_SECRET = "connect_link_state"


def _inserted(session: Session, row: Any, values: dict[str, Any]) -> bool:
    """One INSERT … ON CONFLICT DO NOTHING; False when the key was there already (a
    concurrent writer waits for the first one's commit, then sees its row)."""
    statement = insert_ignoring_duplicates(session, row, values)
    statement = statement.returning(*row.__table__.primary_key)
    return session.execute(statement).first() is not None


def signing_secret(session: Session, candidate: str, now: datetime) -> str:
    """The stored secret; `candidate` is stored (and returned) when there is none yet."""
    query = select(PlatformSecretRow.value).where(PlatformSecretRow.name == LINK_STATE_SECRET)
    stored = session.scalar(query)
    if stored is not None:
        return str(stored)
    values = {"name": LINK_STATE_SECRET, "value": candidate, "created_at": now}
    if _inserted(session, PlatformSecretRow, values):
        return candidate
    return str(session.scalar(query))


class SqlLinkStateRepository(AgencyBound):
    def consume(self, nonce: str, purpose: str, expires_at: datetime, now: datetime) -> bool:
        self.session.execute(
            delete(GatewayLinkStateRow).where(GatewayLinkStateRow.expires_at < now)
        )
        values = {
            "agency_id": self.agency_id,
            "nonce": nonce,
            "purpose": purpose,
            "expires_at": expires_at,
            "used_at": now,
        }
        return _inserted(self.session, GatewayLinkStateRow, values)
