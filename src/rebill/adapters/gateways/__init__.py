"""Payment gateways: Stripe (Connect, Checkout, Tax) and a manual gateway."""
