"""Usage: authorizing calls, recording and importing them."""
