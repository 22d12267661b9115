"""Dunning end to end (issue 14), on SQLite and PostgreSQL, with the world of `test_payments.py`
(agency `gamma`, no tax, November closed at REBILL_NOW = 2026-12-15T12:00:00Z):
`GAMMA-000001` (bright-dental's retail invoice, 49.00) and `PLAT-000001` (gamma's wholesale
invoice, 1.15). The clock moves by setting REBILL_NOW before each `rebill dunning run`; e-mails
go to a local SMTP server, webhook events are read from the outbox.

Default policy: retries 1, 3 and 5 days after the first failure, suspension 7 days after it."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from rebill.adapters.db.rows import AuditEntryRow, WebhookDeliveryRow
from rebill.bootstrap import build
from rebill.config import Settings
from rebill.entrypoints.api.app import create_app
from rebill.services.access.users import create_user
from tests.browser.conftest import csrf_of
from tests.e2e import test_caps_cli as mail
from tests.e2e import test_payments as payments
from tests.e2e.test_caps_cli import Inbox
from tests.e2e.test_gateway import SUB, Agency, Rebill

server, sdk, stripe_env = payments.server, payments.sdk, payments.stripe_env
rebill, agency, linked = payments.rebill, payments.agency, payments.linked
inbox = mail.inbox  # the local SMTP server fixture
NOW, RETAIL, WHOLESALE = payments.NOW, payments.RETAIL, payments.WHOLESALE
DECLINING = "pm_card_chargeCustomerFail"
CLIENT_EMAIL = f"billing@{SUB}.example"


@pytest.fixture
def hooked(rebill: Rebill, linked: Agency, monkeypatch: pytest.MonkeyPatch) -> Agency:
    """`gamma` with a webhook endpoint (its outbox is read, never sent)."""
    monkeypatch.setenv("REBILL_WEBHOOKS_ALLOW_PRIVATE", "1")
    rebill.json("webhooks", "add", "--agency", "gamma", "--url", "http://127.0.0.1:9/hook")
    return linked


def at(monkeypatch: pytest.MonkeyPatch, days: float) -> None:
    moment = NOW + timedelta(days=days)
    monkeypatch.setenv("REBILL_NOW", moment.isoformat().replace("+00:00", "Z"))


def dunning(rebill: Rebill) -> list[tuple[str, str]]:
    return [(s["invoice"], s["action"]) for s in rebill.json("dunning", "run")["steps"]]


def authorize(rebill: Rebill, sub: str = SUB) -> dict[str, Any]:
    result = rebill.run(
        "authorize", "--agency", "gamma", "--sub-account", sub, "--direction", "outbound",
        "--json",
    )  # fmt: skip
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def events(rebill: Rebill, agency: str = "gamma") -> list[tuple[str, dict[str, Any]]]:
    uow = build(Settings.from_env(rebill.db)).uow()
    with uow:
        rows = uow.session.scalars(  # type: ignore[attr-defined]
            select(WebhookDeliveryRow)
            .where(WebhookDeliveryRow.agency_id == agency)
            .order_by(WebhookDeliveryRow.created_at, WebhookDeliveryRow.id)
        )
        return [(r.event_type, json.loads(r.payload)["data"]) for r in rows]


def dunning_events(rebill: Rebill) -> Counter[str]:
    wanted = ("invoice.payment_failed", "sub_account.suspended", "sub_account.reinstated")
    return Counter(kind for kind, _ in events(rebill) if kind in wanted)


def audit(rebill: Rebill) -> list[str]:
    uow = build(Settings.from_env(rebill.db)).uow()
    with uow:
        rows = uow.session.scalars(  # type: ignore[attr-defined]
            select(AuditEntryRow).where(AuditEntryRow.actor == "dunning").order_by(AuditEntryRow.id)
        )
        return [f"{r.target}: {r.old_value} -> {r.new_value}" for r in rows]


def panel_invoices(rebill: Rebill) -> str:
    """The agency's invoices page in the panel (its `Overdue` section), as its admin."""
    app = build(Settings.from_env(rebill.db))
    email, password = "admin@gamma.example", "correct horse battery"
    if not getattr(rebill, "panel_user", False):
        create_user(app.uow, app.passwords, email, password, "admin", "gamma", None, NOW)
        rebill.panel_user = True  # type: ignore[attr-defined]
    client = TestClient(create_app(app))
    token = csrf_of(client.get("/sign-in").text)
    form = {"email": email, "password": password, "csrf_token": token}
    assert client.post("/sign-in", data=form, follow_redirects=False).status_code == 303
    page = client.get("/panel/invoices")
    assert page.status_code == 200, page.text
    client.close()
    return page.text


def test_a_decline_is_retried_on_schedule_then_suspends_until_paid(
    rebill: Rebill, hooked: Agency, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    payments.save_card(rebill, DECLINING)
    payments.charge(rebill, RETAIL, code=payments.EXIT_PAYMENT_FAILED)

    # Day 0: the failure is told once (e-mail with the link to pay, webhook, audit).
    assert dunning(rebill) == [(RETAIL, "started"), (RETAIL, "failure_told")]
    assert dunning(rebill) == []
    assert len(inbox.messages) == 1
    recipients, message = inbox.messages[0]
    assert recipients == [CLIENT_EMAIL]
    assert message["Subject"] == f"[Gamma Voice AI] Payment of invoice {RETAIL} failed"
    assert "http://rebill.test/portal/gamma/invoices" in str(message.get_payload())
    assert "try your card again on 2026-12-16 12:00 UTC" in str(message.get_payload())
    (failed,) = [d for k, d in events(rebill) if k == "invoice.payment_failed"]
    assert failed["invoice"] == RETAIL and failed["attempt"] == 1
    assert failed["next_action"] == "retry"
    assert authorize(rebill)["allowed"] is True

    # Half a day later nothing is due; each retry on its day, with a key of its own.
    at(monkeypatch, 0.5)
    assert dunning(rebill) == []
    for day, retry in ((1, 1), (3, 2), (5, 3)):
        at(monkeypatch, day)
        assert dunning(rebill) == [(RETAIL, "retried"), (RETAIL, "failure_told")], day
        assert dunning(rebill) == []  # the same moment again: nothing twice
        assert len(inbox.messages) == 1 + retry
    attempts = payments.invoice(rebill, RETAIL)
    assert attempts["status"] == "open"
    keys = [r["idempotency_key"] for r in payments.intents(rebill.server, hooked.id)]
    assert len(keys) == 4 and len(set(keys)) == 4
    for serial, key in enumerate(keys, start=1):
        assert key.startswith(f"rebill:gamma:{RETAIL}:attempt:{serial}:")
    last = str(inbox.messages[-1][1].get_payload())
    assert "calls will be suspended on 2026-12-22 12:00 UTC" in last

    # Day 6: still within the grace period.
    at(monkeypatch, 6)
    assert dunning(rebill) == []
    assert authorize(rebill)["allowed"] is True

    assert "calls suspended on 2026-12-22T12:00 unless paid" in panel_invoices(rebill)

    # Day 7: suspended; authorization refuses with `unpaid_invoice`.
    at(monkeypatch, 7)
    assert dunning(rebill) == [(RETAIL, "suspended")]
    assert "<strong>calls suspended</strong> until paid" in panel_invoices(rebill)
    assert dunning(rebill) == []
    refused = authorize(rebill)
    assert refused["allowed"] is False
    assert refused["reason"] == "unpaid_invoice"
    subject = inbox.messages[-1][1]["Subject"]
    assert subject == f"[Gamma Voice AI] Calls suspended: invoice {RETAIL} is unpaid"

    # Paid by hand on day 8: calls pass at once, the reinstatement is told by the next round.
    at(monkeypatch, 8)
    rebill.json("invoices", "pay", RETAIL, "--agency", "gamma", "--reference", "wire 42")
    assert authorize(rebill)["allowed"] is True
    assert dunning(rebill) == [(RETAIL, "reinstated"), (RETAIL, "closed")]
    assert dunning(rebill) == []

    assert len(inbox.messages) == 5  # four failures, one suspension
    assert dunning_events(rebill) == Counter(
        {"invoice.payment_failed": 4, "sub_account.suspended": 1, "sub_account.reinstated": 1}
    )
    suspended = [d for k, d in events(rebill) if k == "sub_account.suspended"]
    assert suspended == [
        {"sub_account": SUB, "by": "dunning", "reason": "unpaid_invoice", "invoice": RETAIL}
    ]
    trail = audit(rebill)
    assert trail[0].startswith(f"invoice {RETAIL}:  -> started")
    assert f"sub-account {SUB}:  -> suspended: unpaid_invoice" in trail
    assert f"sub-account {SUB}: suspended: unpaid_invoice -> reinstated" in trail
    assert sum("retry" in line for line in trail) == 3


def test_an_agency_that_does_not_pay_its_wholesale_invoice_is_suspended(
    rebill: Rebill, hooked: Agency, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The platform's own policy: one retry after 2 days, suspension after 3.
    platform = _platform()
    platform["platform"]["dunning"] = {"retry_days": [2], "grace_days": 3}
    rebill.apply(platform)
    payments.save_card(rebill, DECLINING, sub=None)
    payments.charge(rebill, WHOLESALE, code=payments.EXIT_PAYMENT_FAILED)
    assert dunning(rebill) == [(WHOLESALE, "started"), (WHOLESALE, "failure_told")]
    at(monkeypatch, 2)
    assert dunning(rebill) == [(WHOLESALE, "retried"), (WHOLESALE, "failure_told")]
    assert authorize(rebill)["allowed"] is True
    at(monkeypatch, 3)
    assert dunning(rebill) == [(WHOLESALE, "suspended")]
    refused = authorize(rebill)
    assert refused == {**refused, "allowed": False, "reason": "agency_unpaid"}
    # No client e-mail: the agency is told (it has no support address in this catalog).
    assert inbox.messages == []

    # The agency pays with another card: its clients call again.
    payments.save_card(rebill, "pm_card_visa", sub=None)
    assert payments.charge(rebill, WHOLESALE)["status"] == "paid"
    assert authorize(rebill)["allowed"] is True
    assert dunning(rebill) == [(WHOLESALE, "reinstated"), (WHOLESALE, "closed")]
    assert dunning_events(rebill) == Counter(
        {"invoice.payment_failed": 2, "sub_account.suspended": 1, "sub_account.reinstated": 1}
    )
    reasons = {d["reason"] for k, d in events(rebill) if k.startswith("sub_account.")}
    assert reasons == {"agency_unpaid"}


def test_an_agency_sets_its_own_policy_for_its_clients(
    rebill: Rebill, hooked: Agency, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agency's policy (no retries, one day of grace) applies to its retail invoices."""
    rebill.apply({"agencies": [{"id": "gamma", "dunning": {"retry_days": [], "grace_days": 1}}]})
    payments.save_card(rebill, DECLINING)
    payments.charge(rebill, RETAIL, code=payments.EXIT_PAYMENT_FAILED)
    assert dunning(rebill) == [(RETAIL, "started"), (RETAIL, "failure_told")]
    assert "calls will be suspended on 2026-12-16 12:00 UTC" in str(
        inbox.messages[0][1].get_payload()
    )
    at(monkeypatch, 1)
    assert dunning(rebill) == [(RETAIL, "suspended")]
    assert authorize(rebill)["reason"] == "unpaid_invoice"


def test_a_policy_out_of_bounds_is_refused_with_its_path(rebill: Rebill) -> None:
    path = rebill.folder / "bad.yaml"
    path.write_text(
        json.dumps({"agencies": [{"id": "gamma", "dunning": {"retry_days": [3, 1]}}]}),
        encoding="utf-8",
    )
    result = rebill.run("apply", str(path), code=1)
    assert "agencies[0].dunning" in result.stderr
    assert "increase strictly" in result.stderr


def _platform() -> dict[str, Any]:
    from tests.e2e.test_gateway import catalog

    return {"platform": catalog()["platform"]}
