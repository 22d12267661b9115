"""Adapters: concrete implementations of the ports in `rebill.services.ports`."""
