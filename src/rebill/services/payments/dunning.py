"""Dunning at both levels (docs/dunning.md): what follows a failed off-session charge of an open
invoice, a client's retail invoice (the agency's policy) or an agency's wholesale invoice (the
platform's policy).

`run_dunning` is one round, run by `rebill dunning run` and by the worker loop. For each open
case (an invoice whose charge failed, until it is paid) it:

1. retries the charge when the schedule says so: a new attempt with its own idempotency key
   (`collect.charge_invoice`), between two short transactions like every gateway call;
2. tells each failure once: an e-mail to the payer with the link to pay on the hosted page,
   an `invoice.payment_failed` webhook event and an audit entry;
3. suspends the payer once the grace period has passed: authorization then answers
   `unpaid_invoice` (the sub-account) or `agency_unpaid` (every sub-account of the agency);
4. closes the case once the invoice is paid by any means (card, checkout, manual payment,
   credit), with `sub_account.reinstated` when it had been suspended. Authorization looks at
   the invoice itself, so a payment lifts the suspension at once, before this round tells it.

Each step is written in the same transaction as its events (the webhook outbox, the audit log),
so a round run twice, or two rounds at once (the case row is locked), tell everything once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from rebill.domain.dunning import (
    AGENCY_UNPAID,
    DEFAULT_POLICY,
    UNPAID_INVOICE,
    DunningPolicy,
    DunningStep,
    next_step,
)
from rebill.domain.errors import BillingError
from rebill.domain.gateway import PaymentAttempt
from rebill.domain.money import format_minor
from rebill.services.invoicing.billing import stored_invoice
from rebill.services.notifications.webhooks import emit
from rebill.services.payments.collect import charge_invoice, failed_event
from rebill.services.payments.gateway import GatewayContext, pay_page_url
from rebill.services.ports import (
    AgencyView,
    AuditEntry,
    DunningCase,
    Mailer,
    StoredInvoice,
    UnitOfWorkFactory,
)

ACTOR = "dunning"
FAILED = ("failed", "requires_action")
cases_per_run_max = 1000
logger = logging.getLogger("rebill.dunning")


@dataclass
class DunningRun:
    """What one round did, step by step (the CLI prints it)."""

    now: datetime
    steps: list[dict[str, Any]] = field(default_factory=list)

    def add(self, agency_id: str, number: str, action: str, **detail: Any) -> None:
        self.steps.append({"agency": agency_id, "invoice": number, "action": action, **detail})

    def document(self) -> dict[str, Any]:
        return {"now": self.now.isoformat(), "steps": self.steps}


@dataclass(frozen=True)
class Letter:
    recipients: tuple[str, ...]
    subject: str
    body: str


def run_dunning(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext,
    mailer: Mailer | None,
    now: datetime,
) -> DunningRun:
    """One round of dunning over every agency (the worker's periodic job)."""
    with uow_factory() as uow:
        work = uow.platform.gateway.dunning_work()[:cases_per_run_max]
    run = DunningRun(now)
    for agency_id, number in work:
        try:
            dun_invoice(uow_factory, context, mailer, agency_id, number, now, run)
        except BillingError as error:  # one invoice's trouble stops nobody else's dunning
            logger.warning("dunning %s %s: %s", agency_id, number, error)
            run.add(agency_id, number, "error", message=str(error))
    return run


def dun_invoice(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext,
    mailer: Mailer | None,
    agency_id: str,
    number: str,
    now: datetime,
    run: DunningRun,
) -> None:
    retry = _open_case(uow_factory, agency_id, number, now, run)
    if retry is not None:
        try:
            outcome = charge_invoice(uow_factory, context, agency_id, number, now)
            run.add(agency_id, number, "retried", retry=retry, status=outcome["status"])
        except BillingError as error:  # no card any more, the gateway down: told below
            run.add(agency_id, number, "retry_failed", retry=retry, message=str(error))
    letters = _advance(uow_factory, context, agency_id, number, now, run)
    for letter in letters:
        if mailer is None or not letter.recipients:
            continue
        try:  # told already (webhook, audit): a mail server down loses this e-mail only
            mailer.send(letter.recipients, letter.subject, letter.body)
        except OSError as error:
            logger.warning("dunning e-mail for %s %s not sent: %s", agency_id, number, error)
            run.add(agency_id, number, "email_failed", message=str(error))


def policy_of(tenant: AgencyView, platform: DunningPolicy, invoice: StoredInvoice) -> DunningPolicy:
    """The platform's policy for a wholesale invoice; the agency's own (else the platform's
    default) for a client's retail invoice."""
    if invoice.kind == "wholesale":
        return platform
    return tenant.payments.dunning_policy() or platform


def _audit(tenant: AgencyView, now: datetime, number: str, field_name: str, new: str) -> None:
    tenant.audit.add(AuditEntry(now, ACTOR, f"invoice {number}", field_name, "", new))


def _open_case(
    uow_factory: UnitOfWorkFactory, agency_id: str, number: str, now: datetime, run: DunningRun
) -> int | None:
    """Open the invoice's case at its first failure; the retry due now, if any (recorded as
    made before the gateway is asked, so that two rounds never make it twice)."""
    with uow_factory() as uow:
        tenant = uow.for_agency(agency_id)
        tenant.invoices.lock(number)
        invoice = stored_invoice(tenant, number)
        case = tenant.payments.dunning_case(number, for_update=True)
        if case is None:
            first = tenant.payments.first_failure_at(number)
            if invoice.status != "open" or first is None:
                return None
            party = (invoice.sub_account_id or "") if invoice.kind == "retail" else ""
            case = DunningCase(number, party, first)
            tenant.payments.save_dunning_case(case, now)
            _audit(tenant, now, number, "dunning", f"started: charge failed {first.isoformat()}")
            run.add(agency_id, number, "started", first_failed_at=first.isoformat())
        if invoice.status != "open" or case.closed_at is not None:
            uow.commit()
            return None
        platform = uow.platform.gateway.dunning_policy() or DEFAULT_POLICY
        policy = policy_of(tenant, platform, invoice)
        due = policy.retries_due(case.first_failed_at, now)
        attempts = tenant.payments.of_invoice(number)
        retry = None
        if due > case.retries_done and attempts and attempts[-1].status in FAILED:
            retry = due  # retries a late round missed are not made on top of this one
            tenant.payments.save_dunning_case(replace(case, retries_done=due), now)
            _audit(tenant, now, number, "dunning", f"retry {due} of {len(policy.retry_days)}")
        uow.commit()
    return retry


def _advance(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext,
    agency_id: str,
    number: str,
    now: datetime,
    run: DunningRun,
) -> list[Letter]:
    """Tell new failures, suspend after the grace period, close the case once paid."""
    letters: list[Letter] = []
    with uow_factory() as uow:
        tenant = uow.for_agency(agency_id)
        tenant.invoices.lock(number)
        invoice = stored_invoice(tenant, number)
        case = tenant.payments.dunning_case(number, for_update=True)
        if case is None or case.closed_at is not None:
            return letters
        platform = uow.platform.gateway.dunning_policy() or DEFAULT_POLICY
        policy = policy_of(tenant, platform, invoice)
        payer = _Payer.of(uow.platform.brand.get().display_name, tenant, invoice, context)
        if invoice.status != "open":
            if case.suspended_at is not None:
                _reinstate(tenant, invoice, case, now)
                run.add(agency_id, number, "reinstated", party=case.party_id or None)
            tenant.payments.save_dunning_case(replace(case, closed_at=now), now)
            _audit(tenant, now, number, "dunning", f"closed: invoice {invoice.status}")
            run.add(agency_id, number, "closed", status=invoice.status)
            uow.commit()
            return letters
        failures = [a for a in tenant.payments.of_invoice(number) if a.status in FAILED]
        step = next_step(policy, case.first_failed_at, case.retries_done, False)
        for attempt in failures[case.failures_told :]:
            letters.append(payer.failure_letter(invoice, attempt, step.action, step.at))
            emit(tenant.webhooks, "invoice.payment_failed", _failed(invoice, attempt, step), now)
            _audit(tenant, now, number, "payment", f"attempt {attempt.attempt} {attempt.status}")
            run.add(agency_id, number, "failure_told", attempt=attempt.attempt)
        case = replace(case, failures_told=max(case.failures_told, len(failures)))
        if case.suspended_at is None and now >= policy.suspend_at(case.first_failed_at):
            case = replace(case, suspended_at=now)
            reason = _suspend(tenant, invoice, case, now)
            letters.append(payer.suspension_letter(invoice))
            run.add(agency_id, number, "suspended", party=case.party_id or None, reason=reason)
        tenant.payments.save_dunning_case(case, now)
        uow.commit()
    return letters


def _affected(tenant: AgencyView, case: DunningCase) -> list[str]:
    """The sub-accounts a case holds: its own, or (the agency's invoice) every one not
    closed."""
    if case.party_id:
        return [case.party_id]
    subs = tenant.sub_accounts.all()
    return sorted(s for s, sub in subs.items() if sub.state != "closed")


def _suspend(tenant: AgencyView, invoice: StoredInvoice, case: DunningCase, now: datetime) -> str:
    return _tell_state(tenant, invoice, case, now, "sub_account.suspended")


def _reinstate(
    tenant: AgencyView, invoice: StoredInvoice, case: DunningCase, now: datetime
) -> None:
    _tell_state(tenant, invoice, case, now, "sub_account.reinstated")


def _tell_state(
    tenant: AgencyView, invoice: StoredInvoice, case: DunningCase, now: datetime, event: str
) -> str:
    """A suspension or a reinstatement, to every sub-account it holds: webhook and audit."""
    reason = UNPAID_INVOICE if case.party_id else AGENCY_UNPAID
    subscriptions = tenant.webhooks.subscriptions()
    for sub_id in _affected(tenant, case):
        data = {"sub_account": sub_id, "by": ACTOR, "reason": reason, "invoice": invoice.number}
        emit(tenant.webhooks, event, data, now, subscriptions)
    target = f"sub-account {case.party_id}" if case.party_id else f"agency {tenant.agency_id}"
    old, new = ("", f"suspended: {reason}")
    if event == "sub_account.reinstated":
        old, new = new, "reinstated"
    tenant.audit.add(AuditEntry(now, ACTOR, target, "dunning", old, new))
    return reason


def _failed(invoice: StoredInvoice, attempt: PaymentAttempt, step: DunningStep) -> dict[str, Any]:
    return {
        **failed_event(invoice, attempt),
        "next_action": step.action,
        "next_action_at": step.at.isoformat() if step.at else None,
    }


@dataclass(frozen=True)
class _Payer:
    """Who is told, under which brand, and where they pay."""

    brand: str
    recipients: tuple[str, ...]
    pay_url: str

    @classmethod
    def of(
        cls, platform_name: str, tenant: AgencyView, invoice: StoredInvoice, context: GatewayContext
    ) -> _Payer:
        brand = tenant.brand.get()
        if invoice.kind == "wholesale":  # the agency pays the platform: from its panel
            email = brand.support_email
            url = f"{context.public_url}/panel/invoices"
            return cls(platform_name, (email,) if email else (), url)
        sub = tenant.sub_accounts.get(invoice.sub_account_id or "")
        email = sub.email if sub is not None else ""
        url = pay_page_url(context.public_url, tenant.agency_id, brand.domain)
        return cls(brand.display_name, (email,) if email else (), url)

    def failure_letter(
        self, invoice: StoredInvoice, attempt: PaymentAttempt, action: str, at: datetime | None
    ) -> Letter:
        amount = f"{format_minor(invoice.total_minor, invoice.currency)} {invoice.currency}"
        when = at.strftime("%Y-%m-%d %H:%M UTC") if at else "soon"
        then = (
            f"We will try your card again on {when}."
            if action == "retry"
            else f"Unless it is paid, calls will be suspended on {when}."
        )
        return Letter(
            self.recipients,
            f"[{self.brand}] Payment of invoice {invoice.number} failed",
            f"We could not charge {amount} for invoice {invoice.number}: "
            f"{attempt.message or attempt.code or attempt.status}.\n\n{then}\n\n"
            f"Pay now: {self.pay_url}\n\n-- {self.brand}",
        )

    def suspension_letter(self, invoice: StoredInvoice) -> Letter:
        amount = f"{format_minor(invoice.total_minor, invoice.currency)} {invoice.currency}"
        return Letter(
            self.recipients,
            f"[{self.brand}] Calls suspended: invoice {invoice.number} is unpaid",
            f"Invoice {invoice.number} ({amount}) is still unpaid, so new calls are refused. "
            f"They resume as soon as it is paid.\n\nPay now: {self.pay_url}\n\n-- {self.brand}",
        )


def dunning_view(uow_factory: UnitOfWorkFactory, agency_id: str) -> list[dict[str, Any]]:
    """The agency's overdue invoices and what happens next to each (the panel's section)."""
    with uow_factory() as uow:
        tenant = uow.for_agency(agency_id)
        platform = uow.platform.gateway.dunning_policy() or DEFAULT_POLICY
        rows = []
        for case in tenant.payments.dunning_cases():
            invoice = stored_invoice(tenant, case.number)
            if invoice.status != "open":
                continue
            policy = policy_of(tenant, platform, invoice)
            step = next_step(
                policy, case.first_failed_at, case.retries_done, case.suspended_at is not None
            )
            rows.append(
                {
                    "invoice": case.number,
                    "kind": invoice.kind,
                    "sub_account": case.party_id or None,
                    "amount": format_minor(invoice.total_minor, invoice.currency),
                    "currency": invoice.currency,
                    "first_failed_at": case.first_failed_at.isoformat(),
                    "retries_done": case.retries_done,
                    "suspended": case.suspended_at is not None,
                    "next_action": step.action,
                    "next_action_at": step.at.isoformat() if step.at else None,
                }
            )
    return rows
