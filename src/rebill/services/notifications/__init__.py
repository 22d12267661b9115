"""Telling people and systems: alert e-mail and outbound webhooks."""
