"""Alerts on SQLite and PostgreSQL (BILLING_MODEL §8): each (sub-account, metric, threshold,
period) fires exactly once, however the measure gets there; re-importing calls fires nothing; a
new period fires again; each alert is e-mailed once to a local SMTP server (aiosmtpd).

Setup: agency `acme` (America/New_York), plan `small` with 10 included minutes (600 s), postpaid,
outbound 0.25/min at `60/6`; sub-account `bright-dental` with alerts [0.5, 0.8, 1.0] and no caps,
so only the included-minutes metric is measured (3 thresholds).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from fractions import Fraction
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from rebill.adapters.mail.smtp import SmtpMailer
from rebill.bootstrap import App, build
from rebill.config import Settings
from rebill.services.catalog.apply import apply_catalog
from rebill.services.notifications.alerts import deliver_alerts
from rebill.services.ports import Alert
from rebill.services.usage.import_file import import_usage

NOW = datetime.fromisoformat("2026-12-15T12:00:00+00:00")
EMAIL = "billing@bright-dental.example"
ALL = {Fraction(1, 2), Fraction(4, 5), Fraction(1)}


# ---------------------------------------------------------------------------------------------
# a local SMTP server
# ---------------------------------------------------------------------------------------------


@dataclass
class Inbox:
    messages: list[tuple[list[str], Message]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"

    @property
    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for _, m in self.messages]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


# ---------------------------------------------------------------------------------------------
# a small catalog
# ---------------------------------------------------------------------------------------------


def catalog(alerts: list[str] | None = None, **sub_extra: Any) -> dict[str, Any]:
    sub: dict[str, Any] = {
        "id": "bright-dental",
        "name": "Bright Dental",
        "email": EMAIL,
        "plan": "small",
        "subscribed_at": "2026-09-01T00:00:00-04:00",
        "caps": {"alerts": alerts or ["0.5", "0.8", "1.0"]},
        **sub_extra,
    }
    return {
        "platform": {
            "name": "Example Voice Platform",
            "currency": "USD",
            "wholesale": {
                "voice": {
                    "outbound": {"per_minute": "0.09", "increment": "1/1"},
                    "inbound": {"per_minute": "0.07", "increment": "1/1"},
                },
                "numbers": {"local": {"monthly": "1.15"}, "toll_free": {"monthly": "2.15"}},
                "agency_monthly_fee": "0.00",
            },
        },
        "agencies": [
            {
                "id": "acme",
                "name": "Acme Voice AI",
                "timezone": "America/New_York",
                "invoice_prefix": "ACME",
                "tax": {"mode": "none"},
                "plans": [
                    {
                        "id": "small",
                        "name": "Small",
                        "monthly_fee": "10.00",
                        "included_minutes": 10,
                        "overage": "postpaid",
                        "voice": {
                            "outbound": {"overage_per_minute": "0.25", "increment": "60/6"},
                            "inbound": {"overage_per_minute": "0.20", "increment": "60/6"},
                        },
                        "numbers": {"included": 0, "local": {"monthly": "3.00"}},
                    }
                ],
                "sub_accounts": [sub],
            }
        ],
    }


def seeded(url: str, document: dict[str, Any] | None = None) -> App:
    app = build(Settings(database_url=url, now=NOW))
    apply_catalog(app.uow, document or catalog(), "catalog", NOW)
    return app


def call(call_id: str, started_at: str, duration: int) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "sub_account": "bright-dental",
        "started_at": started_at,
        "duration_seconds": duration,
        "direction": "outbound",
    }


def load(app: App, *calls: dict[str, Any]) -> Any:
    return import_usage(app.uow, "acme", enumerate(calls, start=2), "calls.csv", NOW)


def alerts(app: App, pending: bool = False) -> list[Alert]:
    with app.uow() as uow:
        return uow.for_agency("acme").alerts.all(pending=pending)


def fired(app: App, period: str | None = None) -> list[tuple[str, str, Fraction]]:
    return sorted(
        (a.period, a.metric, Fraction(a.threshold))
        for a in alerts(app)
        if period is None or a.period == period
    )


def included(period: str, *thresholds: Fraction) -> list[tuple[str, str, Fraction]]:
    return sorted((period, "included_minutes", t) for t in thresholds)


# ---------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------


def test_one_large_call_fires_every_threshold_once(db_url: str) -> None:
    app = seeded(db_url)
    # 600 s at 60/6 bills 600 s = the whole 10-minute pool: 600 / 600 = 1.0 ≥ 0.5, 0.8, 1.0
    report = load(app, call("c1", "2026-10-05T10:00:00-04:00", 600))
    assert report.imported == 1
    assert fired(app) == included("2026-10", *ALL)
    for alert in alerts(app):
        assert alert.sub_account_id == "bright-dental"
        assert alert.recipients == (EMAIL,)
        assert alert.delivered_at is None
    # more calls in the same period: the thresholds already fired, nothing new
    load(app, call("c2", "2026-10-06T10:00:00-04:00", 3_000))
    assert fired(app) == included("2026-10", *ALL)


def test_reimporting_the_same_calls_fires_nothing(db_url: str) -> None:
    app = seeded(db_url)
    calls = (
        call("c1", "2026-10-05T10:00:00-04:00", 300),  # 300 / 600 = 0.5 → 0.5 fires
        call("c2", "2026-10-06T10:00:00-04:00", 300),  # 600 / 600 = 1.0 → 0.8 and 1.0 fire
    )
    first = load(app, *calls)
    assert (first.imported, first.duplicates) == (2, 0)
    assert fired(app) == included("2026-10", *ALL)
    again = load(app, *calls)
    assert (again.imported, again.duplicates) == (0, 2)
    assert fired(app) == included("2026-10", *ALL)
    assert len(alerts(app)) == 3


def test_thresholds_crossed_one_by_one_each_fire_once(db_url: str) -> None:
    app = seeded(db_url)
    # 294 s bills 60 + ceil(234 / 6) × 6 = 294 s: 294 / 600 = 0.49 < 0.5 → nothing
    load(app, call("c1", "2026-10-05T10:00:00-04:00", 294))
    assert fired(app) == []
    # + 60 s: 354 / 600 = 0.59 → 0.5
    load(app, call("c2", "2026-10-05T11:00:00-04:00", 60))
    assert fired(app) == included("2026-10", Fraction(1, 2))
    # + 126 s (60 + 11 × 6): 480 / 600 = 0.8 exactly → 0.8
    load(app, call("c3", "2026-10-05T12:00:00-04:00", 125))
    assert fired(app) == included("2026-10", Fraction(1, 2), Fraction(4, 5))
    # + 60 s: 540 / 600 = 0.9 → nothing new
    load(app, call("c4", "2026-10-05T13:00:00-04:00", 60))
    assert len(alerts(app)) == 2
    # + 60 s: 600 / 600 = 1.0 → 1.0
    load(app, call("c5", "2026-10-05T14:00:00-04:00", 60))
    assert fired(app) == included("2026-10", *ALL)
    assert len(alerts(app)) == 3


def test_a_new_period_fires_again(db_url: str) -> None:
    app = seeded(db_url)
    load(app, call("oct", "2026-10-05T10:00:00-04:00", 600))
    assert fired(app) == included("2026-10", *ALL)
    # 2026-11-01T00:30-04:00 is November in New York (04:30 UTC), a new pool: fires again
    load(app, call("nov", "2026-11-01T00:30:00-04:00", 600))
    assert fired(app, "2026-11") == included("2026-11", *ALL)
    assert len(alerts(app)) == 6
    # 2026-10-31T23:30-04:00 (03:30 UTC on Nov 1) is still October: nothing new
    load(app, call("oct-late", "2026-10-31T23:30:00-04:00", 600))
    assert len(alerts(app)) == 6


def test_one_batch_spanning_two_periods_fires_each_period_once(db_url: str) -> None:
    app = seeded(db_url)
    load(
        app,
        call("a", "2026-10-05T10:00:00-04:00", 600),
        call("b", "2026-11-05T10:00:00-05:00", 600),
        call("c", "2026-10-06T10:00:00-04:00", 600),
    )
    assert fired(app) == included("2026-10", *ALL) + included("2026-11", *ALL)


def test_alert_emails_arrive_exactly_once(db_url: str, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    app = seeded(db_url)
    mailer = SmtpMailer("127.0.0.1", port, "alerts@rebill.test")
    load(app, call("c1", "2026-10-05T10:00:00-04:00", 600))
    assert len(alerts(app, pending=True)) == 3

    assert deliver_alerts(app.uow, mailer, NOW) == 3
    assert len(inbox.messages) == 3
    for recipients, message in inbox.messages:
        assert recipients == [EMAIL]
        assert message["To"] == EMAIL
        assert message["From"] == "alerts@rebill.test"
        assert "2026-10" in message["Subject"]
        assert "included minutes" in message["Subject"]
    bodies = sorted(str(m.get_payload()) for _, m in inbox.messages)
    assert len(set(bodies)) == 3  # one e-mail per threshold, no duplicates
    for percent, body in zip(("100%", "50%", "80%"), bodies, strict=True):
        assert f"Bright Dental reached {percent} of its included minutes used in 2026-10" in body
    assert alerts(app, pending=True) == []
    assert all(a.delivered_at == NOW for a in alerts(app))

    # deliver again: nothing pending, nothing sent
    assert deliver_alerts(app.uow, mailer, NOW) == 0
    assert len(inbox.messages) == 3

    # a re-import fires nothing, so still nothing to send
    load(app, call("c1", "2026-10-05T10:00:00-04:00", 600))
    assert deliver_alerts(app.uow, mailer, NOW) == 0
    # a new period: three new e-mails, once
    load(app, call("nov", "2026-11-03T10:00:00-05:00", 600))
    assert deliver_alerts(app.uow, mailer, NOW) == 3
    assert deliver_alerts(app.uow, mailer, NOW) == 0
    assert len(inbox.messages) == 6
    assert sum("2026-11" in s for s in inbox.subjects) == 3


def test_an_smtp_failure_keeps_alerts_pending(db_url: str) -> None:
    app = seeded(db_url)
    load(app, call("c1", "2026-10-05T10:00:00-04:00", 600))
    dead = SmtpMailer("127.0.0.1", free_port(), "alerts@rebill.test")  # nobody listens
    with pytest.raises(OSError):
        deliver_alerts(app.uow, dead, NOW)
    assert len(alerts(app, pending=True)) == 3


def test_wallet_low_and_caps_fire_once_per_period(db_url: str) -> None:
    """Spend and minutes caps (notify) and the wallet threshold are metrics too."""
    document = catalog(auto_top_up={"threshold": "5.00", "amount": "20.00"})
    document["agencies"][0]["sub_accounts"][0]["caps"] = {
        "monthly_spend": "1.00",
        "monthly_minutes": 20,
        "alerts": ["0.5", "1.0"],
        "enforcement": "notify",
    }
    app = seeded(db_url, document)
    # 1,200 s: 600 s in the pool, 600 s overage = 600 × 0.25 / 60 = 2.50 postpaid (no credits)
    # → included 600/600 = 1.0: 0.5 and 1.0; spend 2.50/1.00: 0.5 and 1.0; minutes 1,200 /
    # 1,200 = 1.0: 0.5 and 1.0; wallet 0.00 < 5.00: wallet_low once
    load(app, call("c1", "2026-10-05T10:00:00-04:00", 1_200))
    half, one = Fraction(1, 2), Fraction(1)
    metrics = sorted((a.metric, a.threshold) for a in alerts(app))
    assert sorted((m, Fraction(t)) for m, t in metrics if m != "wallet_low") == [
        ("included_minutes", half),
        ("included_minutes", one),
        ("monthly_minutes", half),
        ("monthly_minutes", one),
        ("monthly_spend", half),
        ("monthly_spend", one),
    ]
    assert [m for m, _ in metrics].count("wallet_low") == 1
    load(app, call("c2", "2026-10-06T10:00:00-04:00", 1_200))
    assert len(alerts(app)) == 7
