"""The agency's webhook endpoints (with their health) and the outbox of deliveries; the
delivery worker's fair share of what is due across agencies."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from rebill.adapters.db.repositories.common import (
    AgencyBound,
    is_postgresql,
    utc_value,
    write_rows,
)
from rebill.adapters.db.rows import WebhookDeliveryRow, WebhookEndpointRow
from rebill.services.ports.webhooks import (
    DeliveryOutcome,
    DueDelivery,
    QueuedEvent,
    Subscription,
    WebhookDelivery,
    WebhookEndpoint,
)

error_length_max = 500
DELIVERY_COLUMNS = (
    "agency_id",
    "id",
    "endpoint_id",
    "event_id",
    "event_type",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "last_error",
    "created_at",
    "delivered_at",
)


def _endpoint(r: WebhookEndpointRow) -> WebhookEndpoint:
    events = tuple(json.loads(r.events))
    return WebhookEndpoint(r.id, r.url, events, r.created_at, r.disabled_at, r.consecutive_failures)


def _delivery(r: WebhookDeliveryRow) -> WebhookDelivery:
    return WebhookDelivery(
        r.id,
        r.endpoint_id,
        r.event_id,
        r.event_type,
        r.status,
        r.attempts,
        r.last_error,
        r.next_attempt_at,
        r.delivered_at,
    )


class SqlWebhookRepository(AgencyBound):
    def _endpoint_row(self, endpoint_id: str) -> WebhookEndpointRow | None:
        key = (self.agency_id, endpoint_id)
        return self.session.get(WebhookEndpointRow, key, with_for_update=True)

    def add_endpoint(
        self, endpoint_id: str, url: str, secret: str, events: list[str], now: datetime
    ) -> None:
        self.session.add(
            WebhookEndpointRow(
                agency_id=self.agency_id,
                id=endpoint_id,
                url=url,
                secret=secret,
                events=json.dumps(events),
                created_at=now,
            )
        )
        self.session.flush()

    def endpoints(self) -> list[WebhookEndpoint]:
        rows = self.session.scalars(
            select(WebhookEndpointRow)
            .where(WebhookEndpointRow.agency_id == self.agency_id)
            .order_by(WebhookEndpointRow.id)
        )
        return [_endpoint(r) for r in rows]

    def subscriptions(self) -> list[Subscription]:
        rows = self.session.execute(
            select(WebhookEndpointRow.id, WebhookEndpointRow.events).where(
                WebhookEndpointRow.agency_id == self.agency_id,
                WebhookEndpointRow.disabled_at.is_(None),
            )
        )
        return [
            Subscription(endpoint_id, tuple(json.loads(events))) for endpoint_id, events in rows
        ]

    def enable_endpoint(
        self, endpoint_id: str, secret: str | None, events: list[str] | None
    ) -> bool:
        row = self._endpoint_row(endpoint_id)
        if row is None:
            return False
        row.disabled_at, row.consecutive_failures = None, 0
        if secret is not None:
            row.secret = secret
        if events is not None:
            row.events = json.dumps(events)
        self.session.flush()
        return True

    def remove_endpoint(self, endpoint_id: str, error: str) -> bool:
        row = self._endpoint_row(endpoint_id)
        if row is None:
            return False
        self._fail_pending(endpoint_id, error)
        self.session.delete(row)
        self.session.flush()
        return True

    def endpoint_of(self, delivery_id: str) -> str | None:
        row = self.session.get(WebhookDeliveryRow, (self.agency_id, delivery_id))
        return None if row is None else row.endpoint_id

    def _fail_pending(self, endpoint_id: str, error: str) -> None:
        self.session.execute(
            update(WebhookDeliveryRow)
            .where(
                WebhookDeliveryRow.agency_id == self.agency_id,
                WebhookDeliveryRow.endpoint_id == endpoint_id,
                WebhookDeliveryRow.status == "pending",
            )
            .values(status="failed", last_error=error[:error_length_max])
        )

    def count_endpoint_result(self, endpoint_id: str, ok: bool) -> int:
        row = self._endpoint_row(endpoint_id)
        assert row is not None
        row.consecutive_failures = 0 if ok else row.consecutive_failures + 1
        self.session.flush()
        return row.consecutive_failures

    def disable_endpoint(self, endpoint_id: str, now: datetime, error: str) -> None:
        """A replay queues a failed delivery again, sent once the endpoint is enabled."""
        row = self._endpoint_row(endpoint_id)
        assert row is not None
        row.disabled_at = now
        self._fail_pending(endpoint_id, error)
        self.session.flush()

    def queue(self, events: Sequence[QueuedEvent], now: datetime) -> None:
        """In one statement (`write_rows`), whatever the number of deliveries."""
        if not events:
            return
        at = utc_value(now, not is_postgresql(self.session))
        write_rows(
            self.session,
            "webhook_deliveries",
            DELIVERY_COLUMNS,
            [
                (
                    self.agency_id,
                    e.delivery_id,
                    e.endpoint_id,
                    e.event_id,
                    e.event_type,
                    e.payload,
                    "pending",
                    0,
                    at,
                    "",
                    at,
                    None,
                )
                for e in events
            ],
        )

    def finish_delivery(self, delivery_id: str, outcome: DeliveryOutcome) -> None:
        row = self.session.get(WebhookDeliveryRow, (self.agency_id, delivery_id))
        assert row is not None
        row.status, row.attempts = outcome.status, outcome.attempts
        row.next_attempt_at = outcome.next_attempt_at
        row.last_error, row.delivered_at = outcome.error[:error_length_max], outcome.delivered_at
        self.session.flush()

    def replay_delivery(self, delivery_id: str, now: datetime) -> bool:
        row = self.session.get(WebhookDeliveryRow, (self.agency_id, delivery_id))
        if row is None:
            return False
        row.status, row.next_attempt_at = "pending", now
        self.session.flush()
        return True

    def deliveries(self) -> list[WebhookDelivery]:
        rows = self.session.scalars(
            select(WebhookDeliveryRow)
            .where(WebhookDeliveryRow.agency_id == self.agency_id)
            .order_by(WebhookDeliveryRow.created_at, WebhookDeliveryRow.id)
        )
        return [_delivery(r) for r in rows]


class SqlDeliveryQueue:
    def __init__(self, session: Session) -> None:
        self.session = session

    def claim_due(
        self, now: datetime, limit: int, per_agency_limit: int, lease_until: datetime
    ) -> list[DueDelivery]:
        """Take the due deliveries for one round: each agency's oldest first, at most
        `per_agency_limit` of each (a window function ranks them), agencies taking turns
        (every agency's first before anyone's second). The rows are locked with `SKIP
        LOCKED` (PostgreSQL) and their next attempt moved to `lease_until`: once this
        transaction commits no other runner sees them due until the lease ends (a runner
        that dies mid-round leaves them to be sent again then)."""
        joined = and_(
            WebhookEndpointRow.agency_id == WebhookDeliveryRow.agency_id,
            WebhookEndpointRow.id == WebhookDeliveryRow.endpoint_id,
        )
        due = (
            WebhookDeliveryRow.status == "pending",
            WebhookDeliveryRow.next_attempt_at <= now,
        )
        rank = (
            func.row_number()
            .over(
                partition_by=WebhookDeliveryRow.agency_id,
                order_by=(WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.id),
            )
            .label("rank")
        )
        ranked = (
            select(WebhookDeliveryRow.agency_id, WebhookDeliveryRow.id, rank)
            .join(WebhookEndpointRow, joined)
            .where(*due, WebhookEndpointRow.disabled_at.is_(None))
            .subquery()
        )
        rows = self.session.execute(
            select(WebhookDeliveryRow, WebhookEndpointRow.url, WebhookEndpointRow.secret)
            .join(WebhookEndpointRow, joined)
            .join(
                ranked,
                and_(
                    ranked.c.agency_id == WebhookDeliveryRow.agency_id,
                    ranked.c.id == WebhookDeliveryRow.id,
                ),
            )
            .where(ranked.c.rank <= per_agency_limit, *due)
            .order_by(ranked.c.rank, WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.id)
            .limit(limit)
            .with_for_update(of=WebhookDeliveryRow, skip_locked=True)
        ).all()
        claimed = [
            DueDelivery(
                d.agency_id,
                d.id,
                d.endpoint_id,
                d.payload,
                d.attempts,
                url,
                secret,
                d.next_attempt_at,
            )
            for d, url, secret in rows
        ]
        for delivery, _, _ in rows:
            delivery.next_attempt_at = lease_until
        self.session.flush()
        return claimed

    def backlog(self, now: datetime) -> tuple[int, datetime | None]:
        """How many deliveries are due now, and when the oldest of them was queued."""
        count, oldest = self.session.execute(
            select(func.count(), func.min(WebhookDeliveryRow.created_at)).where(
                WebhookDeliveryRow.status == "pending", WebhookDeliveryRow.next_attempt_at <= now
            )
        ).one()
        return int(count), oldest

    def release(self, deliveries: list[DueDelivery], at: datetime) -> None:
        """Claimed deliveries this round did not send: due again when they were."""
        for delivery in deliveries:
            self.session.execute(
                update(WebhookDeliveryRow)
                .where(
                    WebhookDeliveryRow.agency_id == delivery.agency_id,
                    WebhookDeliveryRow.id == delivery.id,
                    WebhookDeliveryRow.status == "pending",
                )
                .values(next_attempt_at=delivery.due_at or at),
                execution_options={"synchronize_session": False},
            )
