"""E-mail delivery."""
