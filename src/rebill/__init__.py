"""rebill: white-label billing for AI phone-call minutes, rated wholesale and retail."""

__version__ = "0.1.0"
