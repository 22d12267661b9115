"""Outbound webhooks: agencies register URLs; events go into an outbox in the same transaction
as their cause and are sent signed (Standard Webhooks) with retries and backoff; deliveries
are visible and replayable.

Agencies choose the URLs, so the platform guards itself (docs/security.md):
- only public addresses (`rebill.domain.destination`), checked here at registration and by the
  sender at every delivery, which connects to the very address it checked; the platform's
  `webhooks_allow_private` lifts this for tests and demos, agencies cannot;
- at most `endpoints_per_agency_max` endpoints per agency; an endpoint that fails
  `endpoint_failures_max` times in a row is disabled (registering its URL again, or
  `enable_endpoint`, turns it back on);
- a delivery round sends each agency's share (`deliveries_per_agency_round_max`, within
  `agency_round_seconds_max`) in a thread of its own, so one agency's dead endpoints delay
  nobody else's deliveries.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from rebill.domain.destination import is_public_address
from rebill.domain.errors import ConflictError, FieldError, NotFoundError, ValidationError
from rebill.domain.webhook import EVENT_TYPES, headers, new_secret, next_wait
from rebill.services.accounts.tenant import open_agency
from rebill.services.ports import (
    DeliveryOutcome,
    DueDelivery,
    QueuedEvent,
    Subscription,
    UnitOfWorkFactory,
    WebhookRepository,
    WebhookSender,
)

deliveries_per_run_max = 500
deliveries_per_agency_round_max = 10
# An agency's share of a round stops being sent once it has taken this long (the delivery
# under way finishes, within the sender's own timeout); the rest waits for the next round.
agency_round_seconds_max = 10.0
delivery_threads_max = 4
# A claimed delivery is not due for anyone else this long: longer than a round can take (an
# agency's share stops after `agency_round_seconds_max`, plus the sender's own timeout).
claim_lease_seconds = 120
endpoints_per_agency_max = 10
endpoint_failures_max = 20
url_length_max = 2000
ENDPOINT_DISABLED = f"endpoint disabled after {endpoint_failures_max} failures in a row"

Resolve = Callable[[str], list[str]]


def check_url(url: str, allow_private: bool, resolve: Resolve | None = None) -> None:
    """Refuse a URL that is not http(s) with a host, or whose host does not resolve only to
    public addresses. One message for every refusal of the host, so registering URLs cannot
    be used to learn which internal names exist or where they point."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationError([FieldError("url", "use an http(s) URL with a host", "url")])
    if len(url) > url_length_max:
        raise ValidationError([FieldError("url", f"longer than {url_length_max}", "url")])
    if allow_private:
        return
    host = parts.hostname
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = (resolve or _resolve)(host)
        except (OSError, UnicodeError):
            addresses = []
    if not addresses or not all(is_public_address(a) for a in addresses):
        message = (
            f"{host} must resolve, and only to public addresses: the platform sends to no "
            "loopback, private, shared (CGNAT), link-local, multicast or reserved address"
        )
        raise ValidationError([FieldError("url", message, "url")])


def _resolve(host: str) -> list[str]:
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})


def add_endpoint(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    url: str,
    events: list[str],
    allow_private: bool,
    now: datetime,
    resolve: Resolve | None = None,
) -> dict[str, Any]:
    """Register a URL, with a new signing secret. The URL of a disabled endpoint enables that
    endpoint again (new secret, these events); past `endpoints_per_agency_max` (disabled
    endpoints count) it is a conflict."""
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        raise ValidationError(
            [
                FieldError(
                    "events",
                    f"unknown event types: {', '.join(unknown)} (known: {', '.join(EVENT_TYPES)})",
                    "events",
                )
            ]
        )
    check_url(url, allow_private, resolve)
    secret = new_secret()
    with uow_factory() as uow:
        _, tenant = open_agency(uow, agency_id)
        tenant.agency.lock(exclusive=True)  # two registrations count in turn
        existing = tenant.webhooks.endpoints()
        disabled = [e.id for e in existing if e.disabled and e.url == url]
        if disabled:
            endpoint_id = disabled[0]
            tenant.webhooks.enable_endpoint(endpoint_id, secret, events)
        elif len(existing) >= endpoints_per_agency_max:
            raise ConflictError(
                f"agency {agency_id!r} has {len(existing)} webhook endpoints, the most allowed "
                f"is {endpoints_per_agency_max} (disabled ones count; registering a disabled "
                "endpoint's URL again enables it)"
            )
        else:
            endpoint_id = f"we_{uuid.uuid4().hex[:20]}"
            tenant.webhooks.add_endpoint(endpoint_id, url, secret, events, now)
        uow.commit()
    return {"id": endpoint_id, "url": url, "events": events, "secret": secret}


def enable_endpoint(uow_factory: UnitOfWorkFactory, agency_id: str, endpoint_id: str) -> None:
    """Send to a disabled endpoint again (same secret), its failure count cleared."""
    with uow_factory() as uow:
        if not uow.for_agency(agency_id).webhooks.enable_endpoint(endpoint_id, None, None):
            raise NotFoundError(f"webhook endpoint {endpoint_id!r} does not exist")
        uow.commit()


def emit(
    webhooks: WebhookRepository,
    event_type: str,
    data: dict[str, Any],
    now: datetime,
    subscriptions: list[Subscription] | None = None,
) -> None:
    """Queue one event for every endpoint of the agency that wants it (same transaction);
    `subscriptions` saves the lookup when many events are emitted at once."""
    emit_all(webhooks, event_type, [data], now, subscriptions)


def emit_all(
    webhooks: WebhookRepository,
    event_type: str,
    data: Iterable[dict[str, Any]],
    now: datetime,
    subscriptions: list[Subscription] | None = None,
) -> None:
    """Queue events of one type and instant, each for every endpoint of the agency that wants
    it, in one write (same transaction). `data` is not read when no endpoint wants the type."""
    assert event_type in EVENT_TYPES, event_type
    if subscriptions is None:
        subscriptions = webhooks.subscriptions()
    endpoints = [s.endpoint_id for s in subscriptions if not s.events or event_type in s.events]
    if not endpoints:
        return
    queued: list[QueuedEvent] = []
    for item in data:
        event_id = f"evt_{uuid.uuid4().hex[:24]}"
        payload = json.dumps(
            {"type": event_type, "timestamp": now.isoformat(), "data": item},
            separators=(",", ":"),
            sort_keys=True,
        )
        queued.extend(
            QueuedEvent(f"msg_{uuid.uuid4().hex[:24]}", endpoint, event_id, event_type, payload)
            for endpoint in endpoints
        )
    webhooks.queue(queued, now)


def deliver_due(uow_factory: UnitOfWorkFactory, sender: WebhookSender, now: datetime) -> int:
    """One round: send the deliveries that are due, each agency's share in a thread of its own
    (at most `delivery_threads_max` at once); each outcome is committed on its own, as soon as
    its agency's share is done. The deliveries are claimed first (leased for
    `claim_lease_seconds`), so concurrent runners never send one twice. The number
    delivered."""
    lease_until = now + timedelta(seconds=claim_lease_seconds)
    with uow_factory() as uow:
        due = uow.platform.deliveries.claim_due(
            now, deliveries_per_run_max, deliveries_per_agency_round_max, lease_until
        )
        uow.commit()
    shares: dict[str, list[DueDelivery]] = {}
    for delivery in due:
        shares.setdefault(delivery.agency_id, []).append(delivery)
    if not shares:
        return 0
    delivered = 0
    attempted: set[str] = set()
    threads = min(delivery_threads_max, len(shares))
    try:
        with ThreadPoolExecutor(threads, thread_name_prefix="rebill-webhooks") as pool:
            sending = [pool.submit(_send_share, sender, share, now) for share in shares.values()]
            for done in as_completed(sending):
                for delivery, error in done.result():
                    _record(uow_factory, delivery, error, now)
                    attempted.add(delivery.id)
                    delivered += error is None
    finally:
        unsent = [d for d in due if d.id not in attempted]
        if unsent:  # skipped this round (failed endpoint, time is up): back in their place
            with uow_factory() as uow:
                uow.platform.deliveries.release(unsent, now)
                uow.commit()
    return delivered


def _send_share(
    sender: WebhookSender, share: list[DueDelivery], now: datetime
) -> list[tuple[DueDelivery, str | None]]:
    """One agency's deliveries of a round, in order. An endpoint that fails is not tried again
    this round, and the share stops after `agency_round_seconds_max`; what is left stays due."""
    started = time.monotonic()
    failed: set[str] = set()
    outcomes: list[tuple[DueDelivery, str | None]] = []
    timestamp = int(now.timestamp())
    for delivery in share:
        if time.monotonic() - started >= agency_round_seconds_max:
            break
        if delivery.endpoint_id in failed:
            continue
        body = delivery.payload
        sent_headers = headers(delivery.secret, delivery.id, timestamp, body)
        error = sender.post(delivery.url, sent_headers, body)
        if error is not None:
            failed.add(delivery.endpoint_id)
        outcomes.append((delivery, error))
    return outcomes


def _record(
    uow_factory: UnitOfWorkFactory, delivery: DueDelivery, error: str | None, now: datetime
) -> None:
    """The attempt's outcome on the delivery (delivered, retried later, or failed) and on its
    endpoint's health: `endpoint_failures_max` failures in a row disable it."""
    endpoint_id = delivery.endpoint_id
    attempts = delivery.attempts + 1
    with uow_factory() as uow:
        webhooks = uow.for_agency(delivery.agency_id).webhooks
        failures = webhooks.count_endpoint_result(endpoint_id, ok=error is None)
        if error is None:
            outcome = DeliveryOutcome("delivered", attempts, now, "", now)
        else:
            wait = next_wait(attempts)
            if failures >= endpoint_failures_max:
                # Its other pending deliveries fail with the reason; this one keeps its error.
                webhooks.disable_endpoint(endpoint_id, now, ENDPOINT_DISABLED)
                wait = None
            status = "pending" if wait is not None else "failed"
            next_attempt_at = now + wait if wait is not None else now
            outcome = DeliveryOutcome(status, attempts, next_attempt_at, error, None)
        webhooks.finish_delivery(delivery.id, outcome)
        uow.commit()


def replay(uow_factory: UnitOfWorkFactory, agency_id: str, delivery_id: str, now: datetime) -> None:
    with uow_factory() as uow:
        hooks = uow.for_agency(agency_id).webhooks
        endpoint_id = hooks.endpoint_of(delivery_id)
        if endpoint_id is None:
            raise NotFoundError(f"delivery {delivery_id!r} does not exist")
        if endpoint_id not in {e.id for e in hooks.endpoints()}:
            raise ConflictError(
                f"delivery {delivery_id!r} cannot be sent again: its endpoint {endpoint_id} "
                "was removed"
            )
        hooks.replay_delivery(delivery_id, now)
        uow.commit()


def remove_endpoint(uow_factory: UnitOfWorkFactory, agency_id: str, endpoint_id: str) -> None:
    """Stop sending to an endpoint for good: it is deleted, its deliveries not sent yet fail
    ("endpoint removed"), the sent ones stay listed."""
    with uow_factory() as uow:
        if not uow.for_agency(agency_id).webhooks.remove_endpoint(endpoint_id, "endpoint removed"):
            raise NotFoundError(f"webhook endpoint {endpoint_id!r} does not exist")
        uow.commit()
