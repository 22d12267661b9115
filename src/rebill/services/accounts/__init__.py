"""Sub-accounts: caps and states."""
