"""Outbound webhooks: agencies register URLs; events go into an outbox in the same transaction
as their cause and are sent signed (Standard Webhooks) with retries and backoff; deliveries
are visible and replayable. URLs that resolve to loopback, link-local or private addresses are
refused unless the platform allows them."""

from __future__ import annotations

import ipaddress
import json
import socket
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from rebill.domain.errors import FieldError, NotFoundError, ValidationError
from rebill.domain.webhook import EVENT_TYPES, headers, new_secret, next_wait
from rebill.services.ports import Store, UnitOfWorkFactory, WebhookSender

deliveries_per_run_max = 500
url_length_max = 2000


def check_url(
    url: str, allow_private: bool, resolve: Callable[[str], list[str]] | None = None
) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationError([FieldError("url", "use an http(s) URL with a host", "url")])
    if len(url) > url_length_max:
        raise ValidationError([FieldError("url", f"longer than {url_length_max}", "url")])
    if allow_private:
        return
    lookup = resolve or _resolve
    try:
        addresses = lookup(parts.hostname)
    except OSError:
        raise ValidationError(
            [FieldError("url", f"{parts.hostname} does not resolve", "url")]
        ) from None
    for address in addresses:
        ip = ipaddress.ip_address(address)
        if (
            ip.is_loopback
            or ip.is_link_local
            or ip.is_private
            or ip.is_unspecified
            or ip.is_multicast
            or ip.is_reserved
        ):
            raise ValidationError(
                [
                    FieldError(
                        "url",
                        f"{parts.hostname} resolves to {address}, a loopback, link-local or "
                        "private address; the platform does not allow those",
                        "url",
                    )
                ]
            )


def _resolve(host: str) -> list[str]:
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})


def add_endpoint(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    url: str,
    events: list[str],
    allow_private: bool,
    now: datetime,
) -> dict[str, Any]:
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
    check_url(url, allow_private)
    endpoint_id = f"we_{uuid.uuid4().hex[:20]}"
    secret = new_secret()
    uow = uow_factory()
    with uow:
        if uow.store.get_agency(agency_id) is None:
            raise NotFoundError(f"agency {agency_id!r} does not exist")
        uow.store.save_webhook_endpoint(agency_id, endpoint_id, url, secret, events, now)
        uow.commit()
    return {"id": endpoint_id, "url": url, "events": events, "secret": secret}


def emit(
    store: Store,
    agency_id: str,
    event_type: str,
    data: dict[str, Any],
    now: datetime,
    endpoints: list[tuple[str, list[str]]] | None = None,
) -> None:
    """Queue one event for every endpoint of the agency that wants it (same transaction);
    `endpoints` saves the lookup when many events are emitted at once."""
    assert event_type in EVENT_TYPES, event_type
    event_id = f"evt_{uuid.uuid4().hex[:24]}"
    payload = json.dumps(
        {"type": event_type, "timestamp": now.isoformat(), "data": data},
        separators=(",", ":"),
        sort_keys=True,
    )
    if endpoints is None:
        endpoints = store.webhook_endpoints_for(agency_id)
    for endpoint_id, events in endpoints:
        if not events or event_type in events:
            store.queue_delivery(
                agency_id,
                f"msg_{uuid.uuid4().hex[:24]}",
                endpoint_id,
                event_id,
                event_type,
                payload,
                now,
            )


def deliver_due(uow_factory: UnitOfWorkFactory, sender: WebhookSender, now: datetime) -> int:
    """Send the deliveries that are due; each outcome is committed on its own."""
    with uow_factory() as uow:
        due = uow.store.due_deliveries(now, deliveries_per_run_max)
    delivered = 0
    for delivery in due:
        body = delivery["payload"]
        timestamp = int(now.timestamp())
        sent_headers = headers(delivery["secret"], delivery["id"], timestamp, body)
        error = sender.post(delivery["url"], sent_headers, body)
        uow = uow_factory()
        with uow:
            attempts = delivery["attempts"] + 1
            if error is None:
                uow.store.finish_delivery(
                    delivery["agency_id"], delivery["id"], "delivered", attempts, now, "", now
                )
                delivered += 1
            else:
                wait = next_wait(attempts)
                status = "pending" if wait is not None else "failed"
                uow.store.finish_delivery(
                    delivery["agency_id"],
                    delivery["id"],
                    status,
                    attempts,
                    now + wait if wait else now,
                    error,
                    None,
                )
            uow.commit()
    return delivered


def replay(uow_factory: UnitOfWorkFactory, agency_id: str, delivery_id: str, now: datetime) -> None:
    uow = uow_factory()
    with uow:
        if not uow.store.replay_delivery(agency_id, delivery_id, now):
            raise NotFoundError(f"delivery {delivery_id!r} does not exist")
        uow.commit()
