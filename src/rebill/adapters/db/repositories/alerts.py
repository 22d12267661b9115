"""Alerts (one row per subject, metric, threshold and period: it fires once) and the automatic
top-up requests of the agency; the alerts across agencies (the mail worker's)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from rebill.adapters.db.repositories.common import AgencyBound
from rebill.adapters.db.rows import AlertRow, TopUpRequestRow
from rebill.services.ports.alerts import Alert, TopUpRequest

text_length_max = 500
top_up_message_length_max = 300


def _alert(r: AlertRow) -> Alert:
    return Alert(
        r.agency_id,
        r.sub_account_id,
        r.metric,
        r.threshold,
        r.period,
        r.message,
        tuple(x for x in r.recipients.split(",") if x),
        r.fired_at,
        r.delivered_at,
    )


def _alerts(session: Session, agency_id: str | None, pending: bool) -> list[Alert]:
    query = select(AlertRow)
    if agency_id is not None:
        query = query.where(AlertRow.agency_id == agency_id)
    if pending:
        query = query.where(AlertRow.delivered_at.is_(None))
    rows = session.scalars(query.order_by(AlertRow.fired_at, AlertRow.metric, AlertRow.threshold))
    return [_alert(r) for r in rows]


def _top_up(r: TopUpRequestRow) -> TopUpRequest:
    return TopUpRequest(
        r.sub_account_id,
        r.trigger_key,
        r.amount_micros,
        r.provider,
        r.status,
        r.requested_at,
        r.idempotency_key,
        r.receipt,
        r.message,
        r.charged_tax_minor,
    )


class SqlAlertRepository(AgencyBound):
    def _key(self, alert: Alert) -> tuple[str, str, str, str, str]:
        assert alert.agency_id == self.agency_id, "another agency's alert"
        return (alert.agency_id, alert.sub_account_id, alert.metric, alert.threshold, alert.period)

    def add(self, alert: Alert) -> bool:
        if self.session.get(AlertRow, self._key(alert)) is not None:
            return False
        self.session.add(
            AlertRow(
                agency_id=alert.agency_id,
                sub_account_id=alert.sub_account_id,
                metric=alert.metric,
                threshold=alert.threshold,
                period=alert.period,
                message=alert.message[:text_length_max],
                recipients=",".join(alert.recipients)[:text_length_max],
                fired_at=alert.fired_at,
                delivered_at=None,
            )
        )
        self.session.flush()
        return True

    def all(self, pending: bool = False) -> list[Alert]:
        return _alerts(self.session, self.agency_id, pending)

    def mark_delivered(self, alert: Alert, at: datetime) -> None:
        row = self.session.get(AlertRow, self._key(alert))
        assert row is not None
        row.delivered_at = at
        self.session.flush()

    def claim(self, alert: Alert, at: datetime) -> bool:
        """Mark the alert delivered in this transaction if no one else has (or is doing so
        now): a row another transaction holds is skipped (`SKIP LOCKED` on PostgreSQL), and
        the update only takes a row still undelivered. Rolled back, the alert is pending
        again."""
        key = self._key(alert)
        match = (
            AlertRow.agency_id == key[0],
            AlertRow.sub_account_id == key[1],
            AlertRow.metric == key[2],
            AlertRow.threshold == key[3],
            AlertRow.period == key[4],
            AlertRow.delivered_at.is_(None),
        )
        free = self.session.scalar(
            select(AlertRow.agency_id).where(*match).with_for_update(skip_locked=True)
        )
        if free is None:
            return False
        done = self.session.execute(
            update(AlertRow).where(*match).values(delivered_at=at),
            execution_options={"synchronize_session": False},
        )
        return bool(getattr(done, "rowcount", 0) == 1)


class SqlAlertInbox:
    def __init__(self, session: Session) -> None:
        self.session = session

    def all(self, pending: bool = False) -> list[Alert]:
        return _alerts(self.session, None, pending)


class SqlTopUpRepository(AgencyBound):
    def add(
        self, sub_account_id: str, trigger_key: str, amount_micros: int, provider: str, at: datetime
    ) -> bool:
        pending = self.session.scalar(
            select(func.count())
            .select_from(TopUpRequestRow)
            .where(
                TopUpRequestRow.agency_id == self.agency_id,
                TopUpRequestRow.sub_account_id == sub_account_id,
                TopUpRequestRow.status == "pending",
            )
        )
        key = (self.agency_id, sub_account_id, trigger_key)
        if pending or self.session.get(TopUpRequestRow, key):
            return False
        self.session.add(
            TopUpRequestRow(
                agency_id=self.agency_id,
                sub_account_id=sub_account_id,
                trigger_key=trigger_key,
                amount_micros=amount_micros,
                provider=provider,
                status="pending",
                requested_at=at,
            )
        )
        self.session.flush()
        return True

    def count_since(self, sub_account_id: str, since: datetime) -> int:
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(TopUpRequestRow)
                .where(
                    TopUpRequestRow.agency_id == self.agency_id,
                    TopUpRequestRow.sub_account_id == sub_account_id,
                    TopUpRequestRow.requested_at >= since,
                )
            )
            or 0
        )

    def all(self) -> list[TopUpRequest]:
        rows = self.session.scalars(
            select(TopUpRequestRow)
            .where(TopUpRequestRow.agency_id == self.agency_id)
            .order_by(TopUpRequestRow.requested_at)
        )
        return [_top_up(r) for r in rows]

    def get_locked(self, sub_account_id: str, trigger_key: str) -> TopUpRequest | None:
        key = (self.agency_id, sub_account_id, trigger_key)
        row = self.session.get(TopUpRequestRow, key, with_for_update=True)
        return _top_up(row) if row else None

    def update(
        self,
        sub_account_id: str,
        trigger_key: str,
        status: str,
        idempotency_key: str | None,
        receipt: str | None = None,
        message: str | None = None,
        charged_tax_minor: int | None = None,
    ) -> None:
        key = (self.agency_id, sub_account_id, trigger_key)
        row = self.session.get(TopUpRequestRow, key, with_for_update=True)
        assert row is not None, trigger_key
        row.status, row.idempotency_key = status, idempotency_key
        row.receipt, row.message = receipt, message and message[:top_up_message_length_max]
        if charged_tax_minor is not None:
            row.charged_tax_minor = charged_tax_minor
        self.session.flush()
