"""Payments: the gateway link, checkouts, gateway events, charges and refunds."""
