"""Signed webhook delivery: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.payload")>`,
POSTed to the configured URL, retried with backoff on a non-2xx answer or a network error."""

from __future__ import annotations

import hashlib
import heapq
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_RETRY_DELAYS: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0)


def sign(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header value for payload, as Stripe computes it."""
    body = payload.decode() if isinstance(payload, bytes) else payload
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


@dataclass
class Delivery:
    event_id: str
    event_type: str
    url: str
    attempt: int
    status: int | None
    error: str | None
    at: float

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    event: dict[str, Any] = field(compare=False)
    attempt: int = field(compare=False, default=1)


class WebhookDispatcher:
    """A background thread that delivers events in due order, retrying failures."""

    def __init__(
        self,
        url: str | None,
        secret: str,
        retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.secret = secret
        self.retry_delays = retry_delays
        self.timeout = timeout
        self.deliveries: list[Delivery] = []
        self._jobs: list[_Job] = []
        self._seq = 0
        self._in_flight = 0
        self._cond = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def configure(self, url: str | None, secret: str | None = None) -> None:
        with self._cond:
            self.url = url
            if secret is not None:
                self.secret = secret

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stripe-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def enqueue(self, event: dict[str, Any]) -> bool:
        with self._cond:
            if not self.url:
                return False
            self._seq += 1
            heapq.heappush(self._jobs, _Job(time.monotonic(), self._seq, event))
            self._cond.notify_all()
            return True

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Until no delivery is pending or running (retries included); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._jobs or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (
                    not self._jobs or self._jobs[0].due > time.monotonic()
                ):
                    wait = self._jobs[0].due - time.monotonic() if self._jobs else None
                    self._cond.wait(wait)
                if self._stopped:
                    return
                job = heapq.heappop(self._jobs)
                url, secret = self.url, self.secret
                self._in_flight += 1
            try:
                self._deliver(job, url, secret)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()

    def _deliver(self, job: _Job, url: str | None, secret: str) -> None:
        if not url:
            return
        payload = json.dumps(job.event, indent=2)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": sign(payload, secret),
        }
        request = urllib.request.Request(url, data=payload.encode(), headers=headers, method="POST")
        status: int | None = None
        error: str | None = None
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
            error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivery = Delivery(
            job.event["id"], job.event["type"], url, job.attempt, status, error, time.time()
        )
        with self._cond:
            self.deliveries.append(delivery)
            if delivery.ok or job.attempt > len(self.retry_delays):
                if not delivery.ok:
                    log.warning(
                        "webhook %s gave up after %d attempts", job.event["id"], job.attempt
                    )
                return
            self._seq += 1
            delay = self.retry_delays[job.attempt - 1]
            heapq.heappush(
                self._jobs, _Job(time.monotonic() + delay, self._seq, job.event, job.attempt + 1)
            )
            self._cond.notify_all()
