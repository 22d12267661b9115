"""A stateful Stripe test server for rebill's tests and demo: the subset of the Stripe API that
rebill uses (Connect accounts and links, OAuth, customers, payment methods, PaymentIntents,
refunds, Checkout Sessions, Tax settings and registrations, events), with Stripe's rules,
per-`Stripe-Account` data, idempotency keys, signed webhooks with retries, injectable failures,
and request parameters checked against the `stripe` SDK's own request types.

A package of its own beside `rebill` (it imports nothing from it). Its rooms: `server` (the
HTTP server and the test helpers) hands a request to `api` (authentication, idempotency,
`routes`) or `hosted` (the test-only pages and controls); both call the `engine`, which wires
the resources of `resources/` (one module per Stripe resource) over the shared `state`."""

from stripe_test_server.errors import ApiError
from stripe_test_server.server import (
    DEFAULT_WEBHOOK_SECRET,
    StripeTestServer,
    main,
)
from stripe_test_server.webhooks import Delivery, sign

__all__ = [
    "DEFAULT_WEBHOOK_SECRET",
    "ApiError",
    "Delivery",
    "StripeTestServer",
    "main",
    "sign",
]
