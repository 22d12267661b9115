"""Invitations: an agency's own (bound to it), and the look-up of a link by its token's hash
with the one conditional write that uses it up (the platform's: a link names no agency)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from rebill.adapters.db.door_rows import InvitationRow
from rebill.adapters.db.repositories.common import AgencyBound
from rebill.domain.invitation import ACCEPTED, PENDING, REPLACED, REVOKED, UNSENT, Invitation


def _invitation(row: InvitationRow) -> Invitation:
    return Invitation(
        id=row.id,
        agency_id=row.agency_id,
        email=row.email,
        role=row.role,
        sub_account_id=row.sub_account_id,
        token_sha256=row.token_sha256,
        state=row.state,
        invited_by=row.invited_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        ended_at=row.ended_at,
        user_id=row.user_id,
    )


class SqlInvitationRepository(AgencyBound):
    def add(self, invitation: Invitation) -> None:
        assert invitation.agency_id == self.agency_id, "an invitation into another agency"
        self.session.add(
            InvitationRow(
                id=invitation.id,
                agency_id=self.agency_id,
                email=invitation.email,
                role=invitation.role,
                sub_account_id=invitation.sub_account_id,
                token_sha256=invitation.token_sha256,
                state=invitation.state,
                invited_by=invitation.invited_by,
                created_at=invitation.created_at,
                expires_at=invitation.expires_at,
            )
        )
        self.session.flush()

    def get(self, invitation_id: str) -> Invitation | None:
        row = self.session.get(InvitationRow, invitation_id)
        return _invitation(row) if row is not None and row.agency_id == self.agency_id else None

    def latest(self, limit: int) -> list[Invitation]:
        query = (
            select(InvitationRow)
            .where(InvitationRow.agency_id == self.agency_id, InvitationRow.state != REPLACED)
            .order_by(InvitationRow.created_at.desc(), InvitationRow.id)
            .limit(limit)
        )
        return [_invitation(row) for row in self.session.scalars(query)]

    def pending_to(self, email: str) -> list[Invitation]:
        query = select(InvitationRow).where(
            InvitationRow.agency_id == self.agency_id,
            InvitationRow.email == email,
            InvitationRow.state == PENDING,
        )
        return [_invitation(row) for row in self.session.scalars(query)]

    def end(self, invitation_id: str, state: str, now: datetime) -> None:
        assert state != PENDING, "end() closes an invitation"
        self.session.execute(
            update(InvitationRow)
            .where(
                InvitationRow.id == invitation_id,
                InvitationRow.agency_id == self.agency_id,
                InvitationRow.state.in_((PENDING, UNSENT, REVOKED)),
            )
            .values(state=state, ended_at=now)
        )

    def sends_since(self, since: datetime, email: str | None = None) -> int:
        query = select(func.count()).where(
            InvitationRow.agency_id == self.agency_id, InvitationRow.created_at > since
        )
        if email is not None:
            query = query.where(InvitationRow.email == email)
        return int(self.session.scalar(query) or 0)

    def pending_count(self, now: datetime) -> int:
        query = select(func.count()).where(
            InvitationRow.agency_id == self.agency_id,
            InvitationRow.state == PENDING,
            InvitationRow.expires_at > now,
        )
        return int(self.session.scalar(query) or 0)


class SqlInvitationDirectory:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_token(self, token_sha256: str) -> Invitation | None:
        row = self.session.scalar(
            select(InvitationRow).where(InvitationRow.token_sha256 == token_sha256)
        )
        return _invitation(row) if row is not None else None

    def claim(self, token_sha256: str, user_id: str, now: datetime) -> bool:
        result: CursorResult[Any] = self.session.execute(  # type: ignore[assignment]
            update(InvitationRow)
            .where(
                InvitationRow.token_sha256 == token_sha256,
                InvitationRow.state == PENDING,
                InvitationRow.expires_at > now,
            )
            .values(state=ACCEPTED, ended_at=now, user_id=user_id)
        )
        return result.rowcount == 1
