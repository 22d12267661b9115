"""Alerts (each fires once per subject, metric, threshold and period) and the automatic
top-up requests a drained wallet makes, of the bound agency; and the alerts waiting for
delivery across agencies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Alert:
    agency_id: str
    sub_account_id: str  # '' for the agency itself
    metric: str
    threshold: str
    period: str
    message: str
    recipients: tuple[str, ...]
    fired_at: datetime
    delivered_at: datetime | None = None


@dataclass(frozen=True)
class TopUpRequest:
    sub_account_id: str
    trigger_key: str
    amount_micros: int
    provider: str
    status: str  # pending | succeeded | failed
    requested_at: datetime
    idempotency_key: str | None = None
    receipt: str | None = None
    message: str | None = None
    charged_tax_minor: int | None = None


class AlertRepository(Protocol):
    def add(self, alert: Alert) -> bool:
        """Store an alert unless it fired already; True if it is new."""
        ...

    def all(self, pending: bool = False) -> list[Alert]:
        """The agency's alerts (undelivered only, with `pending`), oldest first."""
        ...

    def mark_delivered(self, alert: Alert, at: datetime) -> None: ...

    def claim(self, alert: Alert, at: datetime) -> bool:
        """Take the alert for delivery: mark it delivered in this transaction unless another
        runner has or holds it (then False). A rollback releases it."""
        ...


class AlertInbox(Protocol):
    """Alerts across agencies (the platform's, and the mail worker's)."""

    def all(self, pending: bool = False) -> list[Alert]: ...


class TopUpRepository(Protocol):
    def add(
        self, sub_account_id: str, trigger_key: str, amount_micros: int, provider: str, at: datetime
    ) -> bool:
        """Ask for a top-up unless one is pending for the sub-account or this trigger asked
        already; True if it is new."""
        ...

    def count_since(self, sub_account_id: str, since: datetime) -> int:
        """How many top-ups of a sub-account were requested at or after `since`."""
        ...

    def all(self) -> list[TopUpRequest]:
        """The agency's requests, oldest first."""
        ...

    def get_locked(self, sub_account_id: str, trigger_key: str) -> TopUpRequest | None:
        """One request, locked until the transaction ends."""
        ...

    def update(
        self,
        sub_account_id: str,
        trigger_key: str,
        status: str,
        idempotency_key: str | None,
        receipt: str | None = None,
        message: str | None = None,
        charged_tax_minor: int | None = None,
    ) -> None: ...
