"""Event streams that feed rebill (NATS JetStream; docs/streaming.md for others)."""
