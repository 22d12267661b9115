"""The bound agency's webhook endpoints and the outbox of deliveries to them; and the
platform's worker view: what is due, across agencies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class WebhookEndpoint:
    id: str
    url: str
    events: tuple[str, ...]  # empty: every event
    created_at: datetime
    disabled_at: datetime | None
    consecutive_failures: int

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None


@dataclass(frozen=True)
class Subscription:
    """An enabled endpoint and the events it wants (empty: every event)."""

    endpoint_id: str
    events: tuple[str, ...]


@dataclass(frozen=True)
class QueuedEvent:
    """One event to send to one endpoint."""

    delivery_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    payload: str


@dataclass(frozen=True)
class WebhookDelivery:
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: str  # pending | delivered | failed
    attempts: int
    last_error: str
    next_attempt_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class DueDelivery:
    """A delivery due now, with where and how to send it."""

    agency_id: str
    id: str
    endpoint_id: str
    payload: str
    attempts: int
    url: str
    secret: str
    due_at: datetime | None = None  # when it was due (a release puts it back there)


@dataclass(frozen=True)
class DeliveryOutcome:
    status: str  # delivered | pending (retried at next_attempt_at) | failed
    attempts: int
    next_attempt_at: datetime
    error: str
    delivered_at: datetime | None


class WebhookRepository(Protocol):
    def add_endpoint(
        self, endpoint_id: str, url: str, secret: str, events: list[str], now: datetime
    ) -> None: ...

    def endpoints(self) -> list[WebhookEndpoint]: ...

    def subscriptions(self) -> list[Subscription]:
        """The enabled endpoints, for queueing events."""
        ...

    def enable_endpoint(
        self, endpoint_id: str, secret: str | None, events: list[str] | None
    ) -> bool:
        """Send to the endpoint again, its failure count cleared (with a new secret and event
        list when given); False when it does not exist."""
        ...

    def remove_endpoint(self, endpoint_id: str, error: str) -> bool:
        """Delete the endpoint; its deliveries not sent yet fail with `error` (the sent ones
        are kept for inspection). False when it does not exist."""
        ...

    def endpoint_of(self, delivery_id: str) -> str | None:
        """The endpoint id of a delivery (None: no such delivery)."""
        ...

    def count_endpoint_result(self, endpoint_id: str, ok: bool) -> int:
        """Note one attempt's outcome; the endpoint's consecutive failures after it."""
        ...

    def disable_endpoint(self, endpoint_id: str, now: datetime, error: str) -> None:
        """Stop sending to the endpoint; its pending deliveries fail with `error`."""
        ...

    def queue(self, events: Sequence[QueuedEvent], now: datetime) -> None:
        """Add the deliveries to the outbox, pending and due at `now`, in one write."""
        ...

    def finish_delivery(self, delivery_id: str, outcome: DeliveryOutcome) -> None: ...

    def replay_delivery(self, delivery_id: str, now: datetime) -> bool: ...

    def deliveries(self) -> list[WebhookDelivery]:
        """The agency's deliveries, oldest first."""
        ...


class DeliveryQueue(Protocol):
    """The outbox across agencies (the delivery worker's)."""

    def claim_due(
        self, now: datetime, limit: int, per_agency_limit: int, lease_until: datetime
    ) -> list[DueDelivery]:
        """Take pending deliveries that are due, to enabled endpoints: at most
        `per_agency_limit` of each agency (its oldest first, agencies in turns), none another
        runner holds; each leased (not due again) until `lease_until`."""
        ...

    def backlog(self, now: datetime) -> tuple[int, datetime | None]:
        """How many deliveries are due now, and when the oldest of them was queued."""
        ...

    def release(self, deliveries: list[DueDelivery], at: datetime) -> None:
        """Claimed deliveries left unsent this round: due again when they were (their
        `due_at`; `at` when unknown), so they keep their place in the queue."""
        ...
