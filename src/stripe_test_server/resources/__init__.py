"""The Stripe resources the test server knows, one module each, applying Stripe's rules to the
shared `State`: accounts and account links, OAuth, customers, payment methods, PaymentIntents
and their charges, refunds, Checkout Sessions (and their pricing), Tax settings, registrations
and calculations, events. `stripe_test_server.engine` wires them together."""
