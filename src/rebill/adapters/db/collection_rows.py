"""The rows of collection after an invoice is issued (issue 14): dunning policies and cases,
Stripe Tax records, disputes. Registered on `rows.Base` (re-exported by `rows`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from rebill.adapters.db.rows import Base, Id, Money, UtcDateTime


class DunningPolicyRow(Base):
    """When failed charges are retried and an unpaid payer suspended: an agency's for its
    clients (`owner_id` its id), the platform's ('') for agencies and as the default."""

    __tablename__ = "dunning_policies"
    owner_id: Mapped[str] = mapped_column(Id, primary_key=True)
    retry_days: Mapped[str] = mapped_column(String(100))
    grace_days: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DunningCaseRow(Base):
    """An invoice whose off-session charge failed, from its first failure until it is paid:
    the retries made, the failures told, the suspension of its payer (`party_id`: the
    sub-account, or '' for the agency's wholesale invoice)."""

    __tablename__ = "dunning_cases"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), primary_key=True)
    party_id: Mapped[str] = mapped_column(Id)
    first_failed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    retries_done: Mapped[int] = mapped_column(Integer)
    failures_told: Mapped[int] = mapped_column(Integer)
    suspended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    __table_args__ = (Index("ix_dunning_cases_party", "agency_id", "party_id"),)


class TaxRecordRow(Base):
    """A document taxed through Stripe Tax, recorded there as a tax transaction (reference:
    the document's number), or a credit note recorded as the reversal of its invoice's."""

    __tablename__ = "tax_records"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # transaction | reversal
    original: Mapped[str | None] = mapped_column(String(40), nullable=True)
    calculation_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    transaction_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | recorded
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DisputeRow(Base):
    """A payer's dispute of a payment (from the gateway's `charge.dispute.*` events), on the
    invoice or receipt that payment paid; a lost one is given its credit note once."""

    __tablename__ = "disputes"
    agency_id: Mapped[str] = mapped_column(Id, primary_key=True)
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    number: Mapped[str] = mapped_column(String(40), index=True)
    amount_minor: Mapped[int] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(64))
    credit_note: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
