"""Many processes on one PostgreSQL database (issue 13): two `rebill serve` processes (each
running the periodic jobs beside the API) and two `rebill worker` processes deliver every
webhook once and e-mail every alert once; `/healthz`, `/readyz` and `/metrics` answer on each
server. Also `rebill worker --once` on SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from rebill.bootstrap import App, build
from rebill.config import Settings
from rebill.demo.data import demo_catalog
from rebill.domain.period import Period
from rebill.services.catalog.apply import apply_catalog
from rebill.services.notifications import webhooks
from rebill.services.notifications.webhooks import emit
from rebill.services.ports import Alert
from tests.integration.test_alerts import Inbox, free_port, smtp

__all__ = ["smtp"]  # the local SMTP server fixture of the alert tests

REBILL = str(Path(sys.executable).parent / "rebill")
EVENTS = 120
ALERTS = 30


class Receiver:
    """A webhook receiver that keeps every delivery's message id."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                with lock:
                    receiver.ids.append(self.headers["webhook-id"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _seed(app: App, receiver: Receiver, now: datetime) -> None:
    """EVENTS webhook deliveries and ALERTS e-mail alerts waiting."""
    apply_catalog(app.uow, demo_catalog(Period(now.year, now.month)), "catalog", now)
    webhooks.add_endpoint(app.uow, "acme", receiver.url, [], allow_private=True, now=now)
    with app.uow() as uow:
        tenant = uow.for_agency("acme")
        subscriptions = tenant.webhooks.subscriptions()
        for n in range(EVENTS):
            data = {"sub_account": f"s{n}", "by": "test", "reason": ""}
            emit(tenant.webhooks, "sub_account.suspended", data, now, subscriptions)
        for n in range(ALERTS):
            alert = Alert(
                "acme",
                "",
                "agency_credit_limit",
                str(n),
                "2026-12",
                f"alert {n}",
                ("a@x.example",),
                now,
            )
            assert tenant.alerts.add(alert)
        uow.commit()


def _wait(done: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.2)


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [REBILL, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_two_servers_and_two_workers_do_each_job_once(
    db_url: str, smtp: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REBILL_NOW", raising=False)
    inbox, smtp_port = smtp
    receiver = Receiver()
    now = datetime.now(UTC)
    app = build(Settings(database_url=db_url, webhooks_allow_private=True))
    _seed(app, receiver, now)
    env = {
        **os.environ,
        "REBILL_WEBHOOKS_ALLOW_PRIVATE": "1",
        "REBILL_SMTP_HOST": "127.0.0.1",
        "REBILL_SMTP_PORT": str(smtp_port),
    }
    env.pop("REBILL_NOW", None)
    ports = [free_port(), free_port()]
    processes = [_start(["serve", "--port", str(p), "--db", db_url], env) for p in ports]
    processes += [_start(["worker", "--db", db_url], env) for _ in range(2)]
    try:
        _wait(lambda: len(receiver.ids) >= EVENTS and len(inbox.messages) >= ALERTS, 90)
        time.sleep(3)  # anything sent twice would arrive by now (every loop polls within 2-5 s)
        for port in ports:
            base = f"http://127.0.0.1:{port}"
            assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
            assert httpx.get(f"{base}/readyz").status_code == 200
            metrics = httpx.get(f"{base}/metrics").text
            assert 'rebill_job_queue_depth{job="webhooks"} 0.0' in metrics
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
    assert len(receiver.ids) == EVENTS, Counter(receiver.ids).most_common(3)
    assert len(set(receiver.ids)) == EVENTS
    subjects = inbox.subjects
    bodies = sorted(str(m.get_payload()).split(".")[0] for _, m in inbox.messages)
    assert len(subjects) == ALERTS, subjects
    assert bodies == sorted(f"alert {n}" for n in range(ALERTS))
    with app.uow() as uow:
        assert uow.platform.alerts.all(pending=True) == []
        assert uow.platform.deliveries.backlog(datetime.now(UTC))[0] == 0
    app.dispose()


def test_worker_once_runs_every_job_and_reports(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REBILL_NOW", raising=False)
    receiver = Receiver()
    app = build(Settings(database_url=sqlite_url, webhooks_allow_private=True))
    _seed(app, receiver, datetime.now(UTC))
    env = {**os.environ, "REBILL_WEBHOOKS_ALLOW_PRIVATE": "1"}
    env.pop("REBILL_NOW", None)
    env.pop("REBILL_SMTP_HOST", None)
    done = subprocess.run(
        [REBILL, "worker", "--once", "--db", sqlite_url], env=env, capture_output=True, check=True
    )
    report = json.loads(done.stdout)
    # One round: at most 10 deliveries of one agency (its fair share), no mailer configured,
    # no monthly partitions on SQLite.
    assert report == {
        "webhooks": 10,
        "top_ups": 0,
        "alerts": 0,
        "dunning": 0,
        "tax_records": 0,
        "partitions": 0,
    }
    assert len(receiver.ids) == 10
    app.dispose()
    unknown = subprocess.run(
        [REBILL, "worker", "--once", "--job", "nope", "--db", sqlite_url],
        env=env,
        check=False,
        capture_output=True,
    )
    assert unknown.returncode == 1
    assert b"unknown jobs: nope" in unknown.stderr


def test_serve_with_two_workers_counts_every_request_in_metrics(sqlite_url: str) -> None:
    """`serve --workers 2`: two processes share the port; /metrics (answered by either) counts
    the requests both answered (PROMETHEUS_MULTIPROC_DIR)."""
    build(Settings(database_url=sqlite_url)).dispose()  # migrated
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    server = _start(["serve", "--port", str(port), "--workers", "2", "--db", sqlite_url], env)
    base = f"http://127.0.0.1:{port}"

    def healthz_count() -> float:
        text = httpx.get(f"{base}/metrics", timeout=30).text
        line = 'rebill_http_requests_total{method="GET",route="/healthz",status="200"} '
        found = [row for row in text.splitlines() if row.startswith(line)]
        return float(found[0].removeprefix(line)) if found else 0.0

    try:
        _wait(lambda: _answers(f"{base}/readyz"), 120)
        before = healthz_count()
        for _ in range(30):  # a new connection each: the two processes share them
            assert httpx.get(f"{base}/healthz", timeout=30).status_code == 200
        assert healthz_count() - before == 30
    finally:
        server.terminate()
        server.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=30).status_code == 200
    except httpx.TransportError:
        return False


def test_a_round_serves_agencies_in_turns(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An agency with a backlog cannot fill a round: every agency's first delivery is taken
    before anyone's second (here a round of 4: acme's 2 oldest and zeta's 2 newer ones)."""
    import copy

    now = datetime.now(UTC)
    app = build(Settings(database_url=sqlite_url, webhooks_allow_private=True))
    document = demo_catalog(Period(now.year, now.month))
    zeta = copy.deepcopy(document["agencies"][0])
    zeta.update(id="zeta", name="Zeta Voice", invoice_prefix="ZETA")
    for sub in zeta["sub_accounts"]:
        sub["numbers"] = []
    document["agencies"].append(zeta)
    apply_catalog(app.uow, document, "catalog", now)
    receivers = {agency: Receiver() for agency in ("acme", "zeta")}
    for agency, receiver in receivers.items():
        webhooks.add_endpoint(app.uow, agency, receiver.url, [], allow_private=True, now=now)
    for agency, count, at in (("acme", 30, now - timedelta(minutes=5)), ("zeta", 2, now)):
        with app.uow() as uow:
            tenant = uow.for_agency(agency)
            for n in range(count):
                data = {"sub_account": f"s{n}", "by": "test", "reason": ""}
                emit(tenant.webhooks, "sub_account.suspended", data, at)
            uow.commit()
    monkeypatch.setattr(webhooks, "deliveries_per_run_max", 4)
    assert webhooks.deliver_due(app.uow, app.webhook_sender, now) == 4
    assert (len(receivers["acme"].ids), len(receivers["zeta"].ids)) == (2, 2)
    app.dispose()
