"""The API's routes, grouped by resource: method, path pattern, the engine call, and the SDK
request types that the request's parameters must fit (see `params`). A handler takes the
request's `Ctx`, its decoded parameters, and the groups of its path."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from stripe_test_server.engine import Engine
from stripe_test_server.values import Obj

Handler = Callable[..., Obj]
ParamTypes = tuple[str, ...] | None
Spec = tuple[str, str, Handler, ParamTypes]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    params: ParamTypes


def routes(engine: Engine) -> list[Route]:
    """Every route, in matching order."""
    groups = (
        _accounts,
        _customers,
        _payment_methods,
        _payment_intents,
        _refunds,
        _checkout_sessions,
        _tax,
        _events,
        _oauth,
    )
    return [
        Route(method, re.compile(f"^{pattern}$"), handler, types)
        for group in groups
        for method, pattern, handler, types in group(engine)
    ]


def _accounts(e: Engine) -> list[Spec]:
    a = e.accounts
    return [
        (
            "GET",
            r"/v1/account",
            lambda c, p: a.retrieve_account(c, None),
            ("params.AccountRetrieveParams",),
        ),
        ("GET", r"/v1/accounts", a.list_accounts, ("params.AccountListParams",)),
        (
            "POST",
            r"/v1/accounts",
            a.create_account,
            ("params.AccountCreateParams", "Account.CreateParams"),
        ),
        (
            "GET",
            r"/v1/accounts/([^/]+)",
            lambda c, p, i: a.retrieve_account(c, i),
            ("params.AccountRetrieveParams", "Account.RetrieveParams"),
        ),
        (
            "POST",
            r"/v1/accounts/([^/]+)",
            lambda c, p, i: a.update_account(c, i, p),
            ("params.AccountUpdateParams", "Account.ModifyParams"),
        ),
        (
            "POST",
            r"/v1/account_links",
            a.create_account_link,
            ("params.AccountLinkCreateParams", "AccountLink.CreateParams"),
        ),
    ]


def _customers(e: Engine) -> list[Spec]:
    cu = e.customers
    return [
        (
            "POST",
            r"/v1/customers",
            cu.create_customer,
            ("params.CustomerCreateParams", "Customer.CreateParams"),
        ),
        (
            "GET",
            r"/v1/customers",
            cu.list_customers,
            ("params.CustomerListParams", "Customer.ListParams"),
        ),
        (
            "GET",
            r"/v1/customers/([^/]+)",
            lambda c, p, i: cu.retrieve_customer(c, i),
            ("params.CustomerRetrieveParams", "Customer.RetrieveParams"),
        ),
        (
            "POST",
            r"/v1/customers/([^/]+)",
            lambda c, p, i: cu.update_customer(c, i, p),
            ("params.CustomerUpdateParams", "params.CustomerModifyParams", "Customer.ModifyParams"),
        ),
        ("DELETE", r"/v1/customers/([^/]+)", lambda c, p, i: cu.delete_customer(c, i), None),
        (
            "GET",
            r"/v1/customers/([^/]+)/payment_methods",
            e.payment_methods.list_payment_methods,
            ("params.CustomerListPaymentMethodsParams", "Customer.ListPaymentMethodsParams"),
        ),
    ]


def _payment_methods(e: Engine) -> list[Spec]:
    pm = e.payment_methods
    return [
        (
            "POST",
            r"/v1/payment_methods",
            pm.create_payment_method,
            ("params.PaymentMethodCreateParams", "PaymentMethod.CreateParams"),
        ),
        (
            "GET",
            r"/v1/payment_methods",
            pm.list_payment_methods,
            ("params.PaymentMethodListParams", "PaymentMethod.ListParams"),
        ),
        (
            "GET",
            r"/v1/payment_methods/([^/]+)",
            lambda c, p, i: pm.retrieve_payment_method(c, i),
            ("params.PaymentMethodRetrieveParams", "PaymentMethod.RetrieveParams"),
        ),
        (
            "POST",
            r"/v1/payment_methods/([^/]+)/attach",
            lambda c, p, i: pm.attach_payment_method(c, i, p),
            ("params.PaymentMethodAttachParams", "PaymentMethod.AttachParams"),
        ),
        (
            "POST",
            r"/v1/payment_methods/([^/]+)/detach",
            lambda c, p, i: pm.detach_payment_method(c, i),
            ("params.PaymentMethodDetachParams", "PaymentMethod.DetachParams"),
        ),
    ]


def _payment_intents(e: Engine) -> list[Spec]:
    pi = e.payment_intents
    return [
        (
            "POST",
            r"/v1/payment_intents",
            pi.create_payment_intent,
            ("params.PaymentIntentCreateParams", "PaymentIntent.CreateParams"),
        ),
        (
            "GET",
            r"/v1/payment_intents",
            pi.list_payment_intents,
            ("params.PaymentIntentListParams", "PaymentIntent.ListParams"),
        ),
        (
            "GET",
            r"/v1/payment_intents/([^/]+)",
            lambda c, p, i: pi.retrieve_payment_intent(c, i),
            ("params.PaymentIntentRetrieveParams", "PaymentIntent.RetrieveParams"),
        ),
        (
            "POST",
            r"/v1/payment_intents/([^/]+)",
            lambda c, p, i: pi.update_payment_intent(c, i, p),
            (
                "params.PaymentIntentUpdateParams",
                "params.PaymentIntentModifyParams",
                "PaymentIntent.ModifyParams",
            ),
        ),
        (
            "POST",
            r"/v1/payment_intents/([^/]+)/confirm",
            lambda c, p, i: pi.confirm_payment_intent(c, i, p),
            ("params.PaymentIntentConfirmParams", "PaymentIntent.ConfirmParams"),
        ),
        (
            "POST",
            r"/v1/payment_intents/([^/]+)/cancel",
            lambda c, p, i: pi.cancel_payment_intent(c, i, p),
            ("params.PaymentIntentCancelParams", "PaymentIntent.CancelParams"),
        ),
        (
            "GET",
            r"/v1/charges/([^/]+)",
            lambda c, p, i: e.charges.retrieve_charge(c, i),
            ("params.ChargeRetrieveParams", "Charge.RetrieveParams"),
        ),
    ]


def _refunds(e: Engine) -> list[Spec]:
    r = e.refunds
    return [
        (
            "POST",
            r"/v1/refunds",
            r.create_refund,
            ("params.RefundCreateParams", "Refund.CreateParams"),
        ),
        ("GET", r"/v1/refunds", r.list_refunds, ("params.RefundListParams", "Refund.ListParams")),
        (
            "GET",
            r"/v1/refunds/([^/]+)",
            lambda c, p, i: r.retrieve_refund(c, i),
            ("params.RefundRetrieveParams", "Refund.RetrieveParams"),
        ),
    ]


def _checkout_sessions(e: Engine) -> list[Spec]:
    cs = e.checkout_sessions
    return [
        (
            "POST",
            r"/v1/checkout/sessions",
            cs.create_checkout_session,
            ("params.checkout.SessionCreateParams", "checkout.Session.CreateParams"),
        ),
        (
            "GET",
            r"/v1/checkout/sessions",
            cs.list_checkout_sessions,
            ("params.checkout.SessionListParams", "checkout.Session.ListParams"),
        ),
        (
            "GET",
            r"/v1/checkout/sessions/([^/]+)",
            lambda c, p, i: cs.retrieve_checkout_session(c, i),
            ("params.checkout.SessionRetrieveParams", "checkout.Session.RetrieveParams"),
        ),
        (
            "GET",
            r"/v1/checkout/sessions/([^/]+)/line_items",
            lambda c, p, i: cs.session_line_items(c, i, p),
            ("params.checkout.SessionListLineItemsParams", "checkout.Session.ListLineItemsParams"),
        ),
        (
            "POST",
            r"/v1/checkout/sessions/([^/]+)/expire",
            lambda c, p, i: cs.expire_checkout_session(c, i),
            ("params.checkout.SessionExpireParams", "checkout.Session.ExpireParams"),
        ),
    ]


def _tax(e: Engine) -> list[Spec]:
    settings, registrations = e.tax_settings, e.tax_registrations
    return [
        (
            "GET",
            r"/v1/tax/settings",
            lambda c, p: settings.retrieve_tax_settings(c),
            ("params.tax.SettingsRetrieveParams", "tax.Settings.RetrieveParams"),
        ),
        (
            "POST",
            r"/v1/tax/settings",
            settings.update_tax_settings,
            (
                "params.tax.SettingsModifyParams",
                "params.tax.SettingsUpdateParams",
                "tax.Settings.ModifyParams",
            ),
        ),
        (
            "POST",
            r"/v1/tax/registrations",
            registrations.create_tax_registration,
            ("params.tax.RegistrationCreateParams", "tax.Registration.CreateParams"),
        ),
        (
            "GET",
            r"/v1/tax/registrations",
            registrations.list_tax_registrations,
            ("params.tax.RegistrationListParams", "tax.Registration.ListParams"),
        ),
        (
            "GET",
            r"/v1/tax/registrations/([^/]+)",
            lambda c, p, i: registrations.retrieve_tax_registration(c, i),
            ("params.tax.RegistrationRetrieveParams", "tax.Registration.RetrieveParams"),
        ),
        (
            "POST",
            r"/v1/tax/registrations/([^/]+)",
            lambda c, p, i: registrations.update_tax_registration(c, i, p),
            (
                "params.tax.RegistrationModifyParams",
                "params.tax.RegistrationUpdateParams",
                "tax.Registration.ModifyParams",
            ),
        ),
        (
            "POST",
            r"/v1/tax/calculations",
            e.tax_calculations.create_tax_calculation,
            ("params.tax.CalculationCreateParams", "tax.Calculation.CreateParams"),
        ),
        *_tax_transactions(e),
    ]


def _tax_transactions(e: Engine) -> list[Spec]:
    t = e.tax_transactions
    return [
        (
            "POST",
            r"/v1/tax/transactions/create_from_calculation",
            t.create_from_calculation,
            (
                "params.tax.TransactionCreateFromCalculationParams",
                "tax.Transaction.CreateFromCalculationParams",
            ),
        ),
        (
            "POST",
            r"/v1/tax/transactions/create_reversal",
            t.create_reversal,
            (
                "params.tax.TransactionCreateReversalParams",
                "tax.Transaction.CreateReversalParams",
            ),
        ),
        (
            "GET",
            r"/v1/tax/transactions/([^/]+)/line_items",
            lambda c, p, i: t.list_line_items(c, i, p),
            (
                "params.tax.TransactionListLineItemsParams",
                "tax.Transaction.ListLineItemsParams",
            ),
        ),
        (
            "GET",
            r"/v1/tax/transactions/([^/]+)",
            lambda c, p, i: t.retrieve(c, i, p),
            ("params.tax.TransactionRetrieveParams", "tax.Transaction.RetrieveParams"),
        ),
    ]


def _events(e: Engine) -> list[Spec]:
    ev = e.events
    return [
        ("GET", r"/v1/events", ev.list_events, ("params.EventListParams", "Event.ListParams")),
        (
            "GET",
            r"/v1/events/([^/]+)",
            lambda c, p, i: ev.retrieve_event(c, i),
            ("params.EventRetrieveParams", "Event.RetrieveParams"),
        ),
    ]


def _oauth(e: Engine) -> list[Spec]:
    o = e.oauth
    return [
        ("POST", r"/oauth/token", lambda c, p: o.oauth_token(p), ("OAuth.OAuthTokenParams",)),
        ("POST", r"/oauth/deauthorize", o.oauth_deauthorize, ("OAuth.OAuthDeauthorizeParams",)),
    ]
