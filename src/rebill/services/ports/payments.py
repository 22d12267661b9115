"""The bound agency's side of its payment gateway: the linked account and the platform's fee
on it, the payers' saved cards, payment attempts, refunds and hosted checkouts, the Connect
link states used; and the platform's side: payments across agencies, events seen, the secret
that signs link states."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from rebill.domain.dunning import DunningPolicy
from rebill.domain.gateway import PaymentAttempt, SavedCard


@dataclass(frozen=True)
class GatewayLink:
    """The gateway account an agency's clients pay through (`manual`: none)."""

    provider: str
    account_id: str | None
    charges_enabled: bool
    details_submitted: bool


@dataclass(frozen=True)
class GatewayCustomer:
    """A payer's saved card: a sub-account's, or (party '') the agency's at the platform."""

    provider: str
    account_id: str | None
    card: SavedCard


@dataclass(frozen=True)
class Refund:
    key: str
    number: str
    amount_minor: int
    idempotency_key: str
    status: str  # pending | succeeded | failed
    gateway_refund_id: str | None
    credit_note: str | None


@dataclass(frozen=True)
class Checkout:
    """A hosted checkout opened for a client action, applied once when it completes."""

    id: str
    sub_account_id: str
    action: str
    detail: str
    amount_minor: int
    tax_minor: int
    status: str
    applied: bool


@dataclass(frozen=True)
class DunningCase:
    """An invoice whose off-session charge failed, from that first failure until it is paid
    (`party_id`: the sub-account that owes it, '' for the agency's wholesale invoice)."""

    number: str
    party_id: str
    first_failed_at: datetime
    retries_done: int = 0
    failures_told: int = 0
    suspended_at: datetime | None = None
    closed_at: datetime | None = None


@dataclass(frozen=True)
class Dispute:
    """A payer's dispute of a payment of an invoice or receipt, as the gateway last told it;
    a lost one is given its credit note once."""

    id: str
    number: str
    amount_minor: int
    status: str
    reason: str
    credit_note: str | None = None


@dataclass(frozen=True)
class TaxRecord:
    """A document recorded in Stripe Tax: a tax transaction (reference: its number) or, for a
    credit note, the reversal of its invoice's (`original`). `pending` until recorded."""

    number: str
    kind: str  # transaction | reversal
    original: str | None = None
    calculation_id: str | None = None
    transaction_id: str | None = None
    status: str = "pending"


@dataclass(frozen=True)
class AgencyPayment:
    agency_id: str
    attempt: PaymentAttempt


class GatewayLinkRepository(Protocol):
    def link(self) -> GatewayLink | None: ...

    def save_link(self, link: GatewayLink, now: datetime) -> None:
        """Link (or relink) the agency's gateway; its application fee is kept."""
        ...

    def application_fee_bps(self) -> int: ...

    def set_application_fee_bps(self, fee_bps: int) -> bool:
        """False when no gateway is linked yet."""
        ...

    def customer(self, party_id: str) -> GatewayCustomer | None: ...

    def save_customer(self, party_id: str, customer: GatewayCustomer, now: datetime) -> None: ...


class PaymentRepository(Protocol):
    def of_invoice(self, number: str, for_update: bool = False) -> list[PaymentAttempt]: ...

    def save(self, payment: PaymentAttempt, now: datetime) -> None:
        """Insert an attempt, or record the gateway's answer to it."""
        ...

    def with_status(self, status: str) -> list[PaymentAttempt]:
        """Every attempt in `status`, by invoice then attempt."""
        ...

    def refund(self, key: str) -> Refund | None:
        """A refund, locked until the transaction ends."""
        ...

    def save_refund(self, refund: Refund, now: datetime) -> None: ...

    def refunded_minor(self, number: str) -> int:
        """What refunds (unfinished ones included, refused ones not) take back from an
        invoice."""
        ...

    def pending_refund(self, number: str) -> Refund | None:
        """An unfinished refund of the invoice (asked of the gateway, no answer recorded)."""
        ...

    def paid_by(self, payment_intent: str) -> PaymentAttempt | None:
        """The succeeded attempt that a payment made (which invoice or receipt it paid)."""
        ...

    def dispute(self, dispute_id: str, for_update: bool = False) -> Dispute | None: ...

    def save_dispute(self, dispute: Dispute, now: datetime) -> None: ...

    def tax_record(self, number: str, for_update: bool = False) -> TaxRecord | None: ...

    def save_tax_record(self, record: TaxRecord, now: datetime) -> None: ...

    def pending_tax_records(self) -> list[TaxRecord]:
        """Records not made in Stripe Tax yet: transactions first, then reversals."""
        ...

    def dunning_policy(self) -> DunningPolicy | None:
        """The agency's own policy for its clients (None: the platform's applies)."""
        ...

    def save_dunning_policy(self, policy: DunningPolicy | None, now: datetime) -> None: ...

    def dunning_case(self, number: str, for_update: bool = False) -> DunningCase | None: ...

    def first_failure_at(self, number: str) -> datetime | None:
        """When the invoice's first off-session charge failure was recorded."""
        ...

    def save_dunning_case(self, case: DunningCase, now: datetime) -> None: ...

    def dunning_cases(self) -> list[DunningCase]:
        """The cases not closed yet, by first failure."""
        ...


class CheckoutRepository(Protocol):
    def add(self, checkout: Checkout, now: datetime) -> None: ...

    def get(self, checkout_id: str, for_update: bool = False) -> Checkout | None: ...

    def complete(self, checkout_id: str, now: datetime) -> None: ...


class LinkStateRepository(Protocol):
    """The Connect link states of the bound agency that were used."""

    def consume(self, nonce: str, purpose: str, expires_at: datetime, now: datetime) -> bool:
        """Record a state's nonce as used; False when it was used before (a replay)."""
        ...


class GatewayDirectory(Protocol):
    """The gateway seen from the platform: across agencies."""

    def payments_with_status(self, status: str) -> list[AgencyPayment]:
        """Every agency's attempts in `status`, by agency, invoice and attempt."""
        ...

    def record_event(
        self, provider: str, event_id: str, event_type: str, account_id: str | None, now: datetime
    ) -> bool:
        """Remember an event; False when it was seen before (a replay)."""
        ...

    def dunning_policy(self) -> DunningPolicy | None:
        """The platform's policy: for agencies' wholesale invoices, and the default."""
        ...

    def save_dunning_policy(self, policy: DunningPolicy | None, now: datetime) -> None: ...

    def agencies_with_pending_tax_records(self) -> list[str]: ...

    def dunning_work(self) -> list[tuple[str, str]]:
        """(agency, invoice) of the open cases, and of the open invoices with a failed
        off-session charge that have no case yet, by agency and invoice."""
        ...

    def link_state_secret(self, candidate: str, now: datetime) -> str:
        """The stored secret that signs link states; `candidate` is stored (and returned)
        when there is none yet."""
        ...
