"""The rows of the portal's doors: custom domains (which agency a host serves) and the sign-in
throttle. Registered on `rows.Base` (`rows` imports this module)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
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
