"""The rows of the portal's doors: custom domains (which agency a host serves), the sign-in
throttle and invitations. Registered on `rows.Base` (`rows` imports this module)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from rebill.adapters.db.rows import Base, Id, UtcDateTime


class CustomDomainRow(Base):
    """A custom portal domain an agency asked for: `pending` until the platform approves it or
    its DNS TXT record proves control, then `active`. `active_domain` is the domain while it
    is active (NULL otherwise): its unique index gives every active domain one owner and the
    portal an indexed look-up by host."""

    __tablename__ = "custom_domains"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    token: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    active_domain: Mapped[str | None] = mapped_column(String(253), nullable=True, unique=True)


class SignInThrottleRow(Base):
    """Recent failed sign-ins of one account (the e-mail asked for, known or not) or from one
    client address. The key is stored as its SHA-256 (a bounded length, and no e-mail box that
    received a password by mistake kept in clear); `services/access/sign_in_throttle.py`
    reads it."""

    __tablename__ = "sign_in_throttle"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # account | address
    key_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class InvitationRow(Base):
    """An invitation to sign in to an agency's panel (a staff role) or portal (`client`, with
    its sub-account): the SHA-256 of the link's token (the token itself is never stored), its
    state (pending, accepted, revoked, replaced, unsent) and expiry. Rows are kept after they
    end: the list of invitations and the send limits read them."""

    __tablename__ = "invitations"
    __table_args__ = (
        Index("ix_invitations_agency_email", "agency_id", "email"),
        Index("ix_invitations_agency_created", "agency_id", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    agency_id: Mapped[str] = mapped_column(Id)
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    sub_account_id: Mapped[str | None] = mapped_column(Id, nullable=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16))
    invited_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
