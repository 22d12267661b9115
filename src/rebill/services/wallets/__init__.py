"""Credit wallets: debits on their own, safe under concurrency."""
