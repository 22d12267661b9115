"""Who may act: API keys, web users and sessions, password hashes, sign-in throttling."""
