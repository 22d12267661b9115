"""Automatic top-ups (BILLING_MODEL §7): a wallet drained below its threshold asks for a
credit purchase; this charges the pending requests to the sub-accounts' saved cards. The
purchase is a taxable sale on its own receipt and its net amount goes to the wallet.

Each request is charged once: its idempotency key is stored on it before the gateway is asked
(and a retry asks exactly what the first ask did), and its outcome is recorded under its lock,
so two runners (the server's worker, the CLI) never charge it twice."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from rebill.domain.account import Agency
from rebill.domain.errors import BillingError, GatewayError
from rebill.domain.gateway import ChargeOutcome, ChargeRequest, PaymentAttempt, SavedCard
from rebill.domain.limits import credit_purchase_max_units
from rebill.domain.money import MICROS_PER_UNIT, format_minor, micros_per_minor
from rebill.domain.tax import TaxPolicy
from rebill.services.invoicing.billing import MANUAL, sell_credits
from rebill.services.notifications.webhooks import emit
from rebill.services.payments.gateway import GatewayContext, active_tax_behavior, require_gateway
from rebill.services.payments.tax_records import queue_transaction, record_pending_taxes
from rebill.services.ports import AgencyView, TopUpRequest, UnitOfWorkFactory

trigger_metadata_length_max = 400


@dataclass(frozen=True)
class _Payer:
    """Where a top-up is charged: the linked account, the saved card, the client's country."""

    provider: str
    account: str
    card: SavedCard
    country: str


@dataclass(frozen=True)
class _Amounts:
    amount_minor: int  # the credits bought
    tax_minor: int
    total_minor: int  # what the card is charged
    calculation: str | None = None  # the Stripe Tax calculation of exactly this tax


def process_top_ups(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext,
    now: datetime,
    agency_ids: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Charge the pending top-ups of the agencies given (every agency's when None). Requests
    without a saved card on a linked gateway account stay pending (with the manual gateway
    the agency collects them itself and records them with `credits add`)."""
    with uow_factory() as uow:
        ids = agency_ids if agency_ids is not None else uow.platform.agencies.ids()
    results = []
    for agency_id in ids:
        with uow_factory() as uow:
            tenant = uow.for_agency(agency_id)
            agency = tenant.agency.get()
            pending = [r for r in tenant.top_ups.all() if r.status == "pending"]
        if agency is None:  # an agency named that does not exist has nothing pending
            continue
        for request in pending:
            try:
                results.append(_top_up(uow_factory, context, agency, request, now))
            except BillingError as error:  # kept pending (with its key) for the next run
                results.append(_top_up_document(agency, request, "pending", None, error.message))
    return results


def _payer(tenant: AgencyView, sub_id: str) -> _Payer | None:
    link = tenant.gateway.link()
    if link is None or link.provider == MANUAL or not link.account_id:
        return None
    saved = tenant.gateway.customer(sub_id)
    if not link.charges_enabled or saved is None or saved.account_id != link.account_id:
        return None
    if not saved.card.payment_method_id:
        return None
    country = tenant.sub_accounts.countries().get(sub_id, "")
    return _Payer(link.provider, link.account_id, saved.card, country)


def _top_up(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext,
    agency: Agency,
    request: TopUpRequest,
    now: datetime,
) -> dict[str, Any]:
    sub_id, trigger = request.sub_account_id, request.trigger_key
    with uow_factory() as uow:
        payer = _payer(uow.for_agency(agency.id), sub_id)
    if payer is None:
        return _top_up_document(agency, request, "pending", None, "no saved card to charge")
    amount_minor = request.amount_micros // micros_per_minor(agency.currency)
    if request.amount_micros > credit_purchase_max_units * MICROS_PER_UNIT:
        refusal = f"above the per-purchase bound of {credit_purchase_max_units}: not charged"
        with uow_factory() as uow:  # set before the bound existed: never charged
            uow.for_agency(agency.id).top_ups.update(sub_id, trigger, "failed", None, None, refusal)
            uow.commit()
        return _top_up_document(agency, request, "failed", None, refusal)
    policy, tax_minor, calculation = _top_up_tax(
        context, agency, payer.account, payer.country, amount_minor
    )
    calculated_tax_minor = tax_minor
    with uow_factory() as uow:
        top_ups = uow.for_agency(agency.id).top_ups
        # Read again under its lock: another runner may have charged it meanwhile; a retry
        # asks exactly what the first ask did.
        current = top_ups.get_locked(sub_id, trigger)
        if current is None or current.status != "pending":
            return _settled_elsewhere(agency, request, current)
        if current.idempotency_key and current.charged_tax_minor is not None:
            key, tax_minor = current.idempotency_key, current.charged_tax_minor
        else:
            key = f"rebill:{agency.id}:topup:{uuid.uuid4().hex}"
        top_ups.update(sub_id, trigger, "pending", key, charged_tax_minor=tax_minor)
        uow.commit()
    total = amount_minor if policy.inclusive else amount_minor + tax_minor
    outcome = _charge(context, agency, request, payer, total, amount_minor, key)
    with uow_factory() as uow:
        tenant = uow.for_agency(agency.id)
        current = tenant.top_ups.get_locked(sub_id, trigger)  # locked again
        if current is None or current.status != "pending":  # another runner recorded it
            return _settled_elsewhere(agency, request, current)
        same = tax_minor == calculated_tax_minor  # a retry asks the tax of the first ask
        amounts = _Amounts(amount_minor, tax_minor, total, calculation if same else None)
        document = _record_outcome(
            tenant, agency, request, payer, outcome, amounts, key, policy, now
        )
        uow.commit()
    if document["receipt"] and policy.mode == "stripe":
        record_pending_taxes(uow_factory, context, now, [agency.id])
    return document


def _settled_elsewhere(
    agency: Agency, request: TopUpRequest, current: TopUpRequest | None
) -> dict[str, Any]:
    status = current.status if current else "gone"
    return _top_up_document(agency, request, status, current.receipt if current else None, None)


def _charge(
    context: GatewayContext,
    agency: Agency,
    request: TopUpRequest,
    payer: _Payer,
    total_minor: int,
    amount_minor: int,
    key: str,
) -> ChargeOutcome:
    charge = ChargeRequest(
        customer_id=payer.card.customer_id,
        payment_method_id=payer.card.payment_method_id,
        amount_minor=total_minor,
        currency=agency.currency,
        description=f"Auto top-up: {format_minor(amount_minor, agency.currency)} of credits",
        metadata={
            "rebill_agency": agency.id,
            "rebill_sub_account": request.sub_account_id,
            "rebill_top_up": request.trigger_key[:trigger_metadata_length_max],
        },
    )
    try:
        return require_gateway(context, payer.provider).charge(payer.account, charge, key)
    except GatewayError as error:
        if error.retryable or "dempotency" in error.gateway_code:
            raise  # unknown whether it went through: kept pending, asked again with its key
        return ChargeOutcome("failed", None, error.gateway_code, error.message)


def _record_outcome(
    tenant: AgencyView,
    agency: Agency,
    request: TopUpRequest,
    payer: _Payer,
    outcome: ChargeOutcome,
    amounts: _Amounts,
    key: str,
    policy: TaxPolicy,
    now: datetime,
) -> dict[str, Any]:
    """A success buys the credits (receipt, wallet) and records what paid the receipt; a
    failure is recorded and announced (`payment.failed`)."""
    sub_id, trigger = request.sub_account_id, request.trigger_key
    currency = agency.currency
    if outcome.status == "succeeded":
        receipt, _ = sell_credits(
            tenant,
            agency,
            sub_id,
            format_minor(amounts.amount_minor, currency),
            now,
            f"topup:{trigger}",
            amounts.tax_minor,
            payer.provider,
            policy,
        )
        intent = outcome.payment_intent
        paid = PaymentAttempt(
            receipt, 1, key, payer.provider, payer.account, amounts.total_minor, "succeeded", intent
        )
        tenant.payments.save(paid, now)
        if policy.mode == "stripe":  # taxed by a calculation: recorded in Stripe Tax
            queue_transaction(tenant, receipt, now, amounts.calculation)
        tenant.top_ups.update(sub_id, trigger, "succeeded", key, receipt)
        return _top_up_document(agency, request, "succeeded", receipt, None)
    message = outcome.message or outcome.code or "declined"
    tenant.top_ups.update(sub_id, trigger, "failed", key, None, message)
    emit(
        tenant.webhooks,
        "payment.failed",
        {
            "top_up": trigger,
            "sub_account": sub_id,
            "amount": format_minor(amounts.total_minor, currency),
            "currency": currency,
            "payment_intent": outcome.payment_intent,
            "status": outcome.status,
            "code": outcome.code,
            "message": outcome.message,
        },
        now,
    )
    return _top_up_document(agency, request, "failed", None, message)


def _top_up_tax(
    context: GatewayContext, agency: Agency, account: str, country: str, amount_minor: int
) -> tuple[TaxPolicy, int, str | None]:
    """The tax of a credit purchase: the agency's own rate, or Stripe Tax's for the
    sub-account's country (refused with `tax_not_configured` unless it is active)."""
    if agency.tax.mode != "stripe":
        return agency.tax, agency.tax.line_tax_minor(amount_minor), None
    gateway = require_gateway(context)
    behavior = active_tax_behavior(gateway, account, agency.currency)
    calculation, (tax,) = gateway.tax_calculation(
        account, agency.currency, country, [amount_minor], behavior
    )
    return replace(agency.tax, behavior=behavior), tax, calculation


def _top_up_document(
    agency: Agency,
    request: TopUpRequest,
    status: str,
    receipt: str | None,
    message: str | None,
) -> dict[str, Any]:
    unit = micros_per_minor(agency.currency)
    return {
        "agency": agency.id,
        "sub_account": request.sub_account_id,
        "trigger": request.trigger_key,
        "amount": format_minor(request.amount_micros // unit, agency.currency),
        "currency": agency.currency,
        "status": status,
        "receipt": receipt,
        "message": message,
    }
