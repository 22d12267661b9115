"""rebill: white-label billing for AI phone-call minutes (wholesale and retail, two-level invoices)."""

__version__ = "0.1.0"
