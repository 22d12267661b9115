"""The agency's gateway: its linked account (and the platform's fee on it), the payers' saved
cards, payment attempts, refunds and hosted checkouts; the platform's side: attempts across
agencies and the events already seen."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from rebill.adapters.db.collection_rows import (
    DisputeRow,
    DunningCaseRow,
    DunningPolicyRow,
    TaxRecordRow,
)
from rebill.adapters.db.repositories.common import AgencyBound
from rebill.adapters.db.repositories.link_state import signing_secret
from rebill.adapters.db.rows import (
    CheckoutRow,
    GatewayCustomerRow,
    GatewayEventRow,
    GatewayLinkRow,
    InvoiceRow,
    PaymentRow,
    RefundRow,
)
from rebill.domain.dunning import DunningPolicy
from rebill.domain.gateway import PaymentAttempt, SavedCard
from rebill.services.ports.payments import (
    AgencyPayment,
    Checkout,
    Dispute,
    DunningCase,
    GatewayCustomer,
    GatewayLink,
    Refund,
    TaxRecord,
)

message_length_max = 300
PLATFORM_OWNER = ""  # the owner id of the platform's dunning policy
FAILED = ("failed", "requires_action")  # an off-session charge that did not go through


def _attempt(r: PaymentRow) -> PaymentAttempt:
    return PaymentAttempt(
        r.number,
        r.attempt,
        r.idempotency_key,
        r.provider,
        r.account_id,
        r.amount_minor,
        r.status,
        r.payment_intent,
        r.code,
        r.message,
        r.customer_id,
        r.payment_method_id,
        r.fee_minor,
    )


def _refund(row: RefundRow) -> Refund:
    return Refund(
        row.key,
        row.number,
        row.amount_minor,
        row.idempotency_key,
        row.status,
        row.gateway_refund_id,
        row.credit_note,
    )


class SqlGatewayLinkRepository(AgencyBound):
    def link(self) -> GatewayLink | None:
        row = self.session.get(GatewayLinkRow, self.agency_id)
        if row is None:
            return None
        return GatewayLink(
            row.provider, row.account_id, bool(row.charges_enabled), bool(row.details_submitted)
        )

    def save_link(self, link: GatewayLink, now: datetime) -> None:
        row = self.session.get(GatewayLinkRow, self.agency_id, with_for_update=True)
        if row is None:
            row = GatewayLinkRow(agency_id=self.agency_id, application_fee_bps=0)
            self.session.add(row)
        row.provider, row.account_id = link.provider, link.account_id
        row.charges_enabled = int(link.charges_enabled)
        row.details_submitted = int(link.details_submitted)
        row.updated_at = now
        self.session.flush()

    def application_fee_bps(self) -> int:
        return (
            self.session.scalar(
                select(GatewayLinkRow.application_fee_bps).where(
                    GatewayLinkRow.agency_id == self.agency_id
                )
            )
            or 0
        )

    def set_application_fee_bps(self, fee_bps: int) -> bool:
        row = self.session.get(GatewayLinkRow, self.agency_id, with_for_update=True)
        if row is None:
            return False
        row.application_fee_bps = fee_bps
        self.session.flush()
        return True

    def customer(self, party_id: str) -> GatewayCustomer | None:
        row = self.session.get(GatewayCustomerRow, (self.agency_id, party_id))
        if row is None:
            return None
        card = SavedCard(row.customer_id, row.payment_method_id, row.label)
        return GatewayCustomer(row.provider, row.account_id, card)

    def save_customer(self, party_id: str, customer: GatewayCustomer, now: datetime) -> None:
        card = customer.card
        self.session.merge(
            GatewayCustomerRow(
                agency_id=self.agency_id,
                party_id=party_id,
                provider=customer.provider,
                account_id=customer.account_id,
                customer_id=card.customer_id,
                payment_method_id=card.payment_method_id,
                label=card.label,
                updated_at=now,
            )
        )
        self.session.flush()


class SqlPaymentRepository(AgencyBound):
    def of_invoice(self, number: str, for_update: bool = False) -> list[PaymentAttempt]:
        query = (
            select(PaymentRow)
            .where(PaymentRow.agency_id == self.agency_id, PaymentRow.number == number)
            .order_by(PaymentRow.attempt)
        )
        if for_update:
            query = query.with_for_update()
        return [_attempt(r) for r in self.session.scalars(query)]

    def save(self, payment: PaymentAttempt, now: datetime) -> None:
        row = self.session.get(PaymentRow, (self.agency_id, payment.number, payment.attempt))
        if row is None:
            row = PaymentRow(
                agency_id=self.agency_id,
                number=payment.number,
                attempt=payment.attempt,
                idempotency_key=payment.idempotency_key,
                provider=payment.provider,
                account_id=payment.account_id,
                amount_minor=payment.amount_minor,
                customer_id=payment.customer_id,
                payment_method_id=payment.payment_method_id,
                fee_minor=payment.fee_minor,
                created_at=now,
            )
            self.session.add(row)
        row.status, row.payment_intent = payment.status, payment.payment_intent
        row.code = payment.code
        row.message = (payment.message or None) and payment.message[:message_length_max]
        row.updated_at = now
        self.session.flush()

    def with_status(self, status: str) -> list[PaymentAttempt]:
        query = select(PaymentRow).where(
            PaymentRow.agency_id == self.agency_id, PaymentRow.status == status
        )
        rows = self.session.scalars(query.order_by(PaymentRow.number, PaymentRow.attempt))
        return [_attempt(r) for r in rows]

    def refund(self, key: str) -> Refund | None:
        row = self.session.get(RefundRow, (self.agency_id, key), with_for_update=True)
        return _refund(row) if row else None

    def save_refund(self, refund: Refund, now: datetime) -> None:
        row = self.session.get(RefundRow, (self.agency_id, refund.key))
        if row is None:
            row = RefundRow(
                agency_id=self.agency_id,
                key=refund.key,
                number=refund.number,
                amount_minor=refund.amount_minor,
                idempotency_key=refund.idempotency_key,
                created_at=now,
            )
            self.session.add(row)
        row.status, row.gateway_refund_id = refund.status, refund.gateway_refund_id
        row.credit_note = refund.credit_note
        self.session.flush()

    def refunded_minor(self, number: str) -> int:
        total = self.session.scalar(
            select(func.sum(RefundRow.amount_minor)).where(
                RefundRow.agency_id == self.agency_id,
                RefundRow.number == number,
                RefundRow.status != "failed",
            )
        )
        return int(total or 0)

    def pending_refund(self, number: str) -> Refund | None:
        key = self.session.scalar(
            select(RefundRow.key).where(
                RefundRow.agency_id == self.agency_id,
                RefundRow.number == number,
                RefundRow.status == "pending",
            )
        )
        return self.refund(key) if key else None

    def paid_by(self, payment_intent: str) -> PaymentAttempt | None:
        row = self.session.scalars(
            select(PaymentRow).where(
                PaymentRow.agency_id == self.agency_id,
                PaymentRow.payment_intent == payment_intent,
                PaymentRow.status == "succeeded",
            )
        ).first()
        return _attempt(row) if row else None

    def dispute(self, dispute_id: str, for_update: bool = False) -> Dispute | None:
        key = (self.agency_id, dispute_id)
        row = self.session.get(DisputeRow, key, with_for_update=for_update)
        if row is None:
            return None
        return Dispute(
            row.id, row.number, row.amount_minor, row.status, row.reason, row.credit_note
        )

    def save_dispute(self, dispute: Dispute, now: datetime) -> None:
        row = self.session.get(DisputeRow, (self.agency_id, dispute.id))
        if row is None:
            row = DisputeRow(agency_id=self.agency_id, id=dispute.id, created_at=now)
            self.session.add(row)
        row.number, row.amount_minor = dispute.number, dispute.amount_minor
        row.status, row.reason = dispute.status, dispute.reason
        row.credit_note, row.updated_at = dispute.credit_note, now
        self.session.flush()

    def tax_record(self, number: str, for_update: bool = False) -> TaxRecord | None:
        key = (self.agency_id, number)
        row = self.session.get(TaxRecordRow, key, with_for_update=for_update)
        return _tax_record(row) if row else None

    def save_tax_record(self, record: TaxRecord, now: datetime) -> None:
        row = self.session.get(TaxRecordRow, (self.agency_id, record.number))
        if row is None:
            row = TaxRecordRow(agency_id=self.agency_id, number=record.number, created_at=now)
            self.session.add(row)
        row.kind, row.original = record.kind, record.original
        row.calculation_id, row.transaction_id = record.calculation_id, record.transaction_id
        row.status, row.updated_at = record.status, now
        self.session.flush()

    def pending_tax_records(self) -> list[TaxRecord]:
        query = select(TaxRecordRow).where(
            TaxRecordRow.agency_id == self.agency_id, TaxRecordRow.status == "pending"
        )
        rows = self.session.scalars(
            query.order_by(TaxRecordRow.kind.desc(), TaxRecordRow.created_at, TaxRecordRow.number)
        )
        return [_tax_record(r) for r in rows]

    def dunning_policy(self) -> DunningPolicy | None:
        return _policy(self.session, self.agency_id)

    def save_dunning_policy(self, policy: DunningPolicy | None, now: datetime) -> None:
        _save_policy(self.session, self.agency_id, policy, now)

    def dunning_case(self, number: str, for_update: bool = False) -> DunningCase | None:
        key = (self.agency_id, number)
        row = self.session.get(DunningCaseRow, key, with_for_update=for_update)
        return _case(row) if row else None

    def first_failure_at(self, number: str) -> datetime | None:
        return self.session.scalar(
            select(func.min(PaymentRow.updated_at)).where(
                PaymentRow.agency_id == self.agency_id,
                PaymentRow.number == number,
                PaymentRow.status.in_(FAILED),
            )
        )

    def save_dunning_case(self, case: DunningCase, now: datetime) -> None:
        row = self.session.get(DunningCaseRow, (self.agency_id, case.number))
        if row is None:
            row = DunningCaseRow(agency_id=self.agency_id, number=case.number)
            self.session.add(row)
        row.party_id, row.first_failed_at = case.party_id, case.first_failed_at
        row.retries_done, row.failures_told = case.retries_done, case.failures_told
        row.suspended_at, row.closed_at = case.suspended_at, case.closed_at
        row.updated_at = now
        self.session.flush()

    def dunning_cases(self) -> list[DunningCase]:
        query = select(DunningCaseRow).where(
            DunningCaseRow.agency_id == self.agency_id, DunningCaseRow.closed_at.is_(None)
        )
        rows = self.session.scalars(query.order_by(DunningCaseRow.first_failed_at))
        return [_case(r) for r in rows]


def _tax_record(row: TaxRecordRow) -> TaxRecord:
    return TaxRecord(
        row.number, row.kind, row.original, row.calculation_id, row.transaction_id, row.status
    )


def _case(row: DunningCaseRow) -> DunningCase:
    return DunningCase(
        row.number,
        row.party_id,
        row.first_failed_at,
        row.retries_done,
        row.failures_told,
        row.suspended_at,
        row.closed_at,
    )


def _policy(session: Session, owner_id: str) -> DunningPolicy | None:
    row = session.get(DunningPolicyRow, owner_id)
    return DunningPolicy.parse(row.retry_days, row.grace_days) if row else None


def _save_policy(
    session: Session, owner_id: str, policy: DunningPolicy | None, now: datetime
) -> None:
    row = session.get(DunningPolicyRow, owner_id)
    if policy is None:
        if row is not None:
            session.delete(row)
    else:
        if row is None:
            row = DunningPolicyRow(owner_id=owner_id)
            session.add(row)
        row.retry_days, row.grace_days, row.updated_at = policy.text(), policy.grace_days, now
    session.flush()


class SqlCheckoutRepository(AgencyBound):
    def add(self, checkout: Checkout, now: datetime) -> None:
        self.session.add(
            CheckoutRow(
                agency_id=self.agency_id,
                id=checkout.id,
                sub_account_id=checkout.sub_account_id,
                action=checkout.action,
                detail=checkout.detail,
                amount_minor=checkout.amount_minor,
                tax_minor=checkout.tax_minor,
                status=checkout.status,
                created_at=now,
            )
        )
        self.session.flush()

    def get(self, checkout_id: str, for_update: bool = False) -> Checkout | None:
        key = (self.agency_id, checkout_id)
        row = self.session.get(CheckoutRow, key, with_for_update=for_update)
        if row is None:
            return None
        return Checkout(
            row.id,
            row.sub_account_id,
            row.action,
            row.detail,
            row.amount_minor,
            row.tax_minor,
            row.status,
            row.applied_at is not None,
        )

    def complete(self, checkout_id: str, now: datetime) -> None:
        row = self.session.get(CheckoutRow, (self.agency_id, checkout_id))
        assert row is not None
        row.status, row.applied_at = "complete", now
        self.session.flush()


class SqlGatewayDirectory:
    def __init__(self, session: Session) -> None:
        self.session = session

    def payments_with_status(self, status: str) -> list[AgencyPayment]:
        query = (
            select(PaymentRow)
            .where(PaymentRow.status == status)
            .order_by(PaymentRow.agency_id, PaymentRow.number, PaymentRow.attempt)
        )
        return [AgencyPayment(r.agency_id, _attempt(r)) for r in self.session.scalars(query)]

    def record_event(
        self, provider: str, event_id: str, event_type: str, account_id: str | None, now: datetime
    ) -> bool:
        if self.session.get(GatewayEventRow, (provider, event_id)) is not None:
            return False
        self.session.add(
            GatewayEventRow(
                provider=provider,
                event_id=event_id,
                event_type=event_type,
                account_id=account_id,
                received_at=now,
            )
        )
        self.session.flush()
        return True

    def dunning_policy(self) -> DunningPolicy | None:
        return _policy(self.session, PLATFORM_OWNER)

    def save_dunning_policy(self, policy: DunningPolicy | None, now: datetime) -> None:
        _save_policy(self.session, PLATFORM_OWNER, policy, now)

    def agencies_with_pending_tax_records(self) -> list[str]:
        query = select(TaxRecordRow.agency_id).where(TaxRecordRow.status == "pending")
        return sorted(set(self.session.scalars(query.distinct())))

    def dunning_work(self) -> list[tuple[str, str]]:
        open_cases = select(DunningCaseRow.agency_id, DunningCaseRow.number).where(
            DunningCaseRow.closed_at.is_(None)
        )
        failed = (
            select(PaymentRow.agency_id, PaymentRow.number)
            .join(
                InvoiceRow,
                and_(
                    InvoiceRow.agency_id == PaymentRow.agency_id,
                    InvoiceRow.number == PaymentRow.number,
                ),
            )
            .outerjoin(
                DunningCaseRow,
                and_(
                    DunningCaseRow.agency_id == PaymentRow.agency_id,
                    DunningCaseRow.number == PaymentRow.number,
                ),
            )
            .where(
                PaymentRow.status.in_(FAILED),
                InvoiceRow.status == "open",
                InvoiceRow.kind.in_(("retail", "wholesale")),
                or_(DunningCaseRow.number.is_(None), DunningCaseRow.closed_at.is_(None)),
            )
        )
        found = {(a, n) for a, n in self.session.execute(open_cases)}
        found |= {(a, n) for a, n in self.session.execute(failed)}
        return sorted(found)

    def link_state_secret(self, candidate: str, now: datetime) -> str:
        return signing_secret(self.session, candidate, now)
