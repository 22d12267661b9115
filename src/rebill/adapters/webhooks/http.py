"""Webhook sender over HTTP (httpx), with a short timeout; never follows redirects."""

from __future__ import annotations

import httpx

webhook_timeout_seconds = 10.0


class HttpWebhookSender:
    def __init__(self, timeout_seconds: float = webhook_timeout_seconds) -> None:
        self.client = httpx.Client(timeout=timeout_seconds, follow_redirects=False)

    def post(self, url: str, headers: dict[str, str], body: str) -> str | None:
        try:
            response = self.client.post(url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"
