"""A database that drops connections (issue 13): while `pg_terminate_backend` kills the
server's connections every 100 ms, requests with Idempotency-Keys and their retries run. Every
failure is a 503 with Retry-After (never a 500), no key is left in flight, each key's call is
stored once, and after the outage every key replays the answer its request got."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from rebill.adapters.db.engine import normalize_url
from rebill.bootstrap import build
from rebill.config import Settings
from rebill.demo.data import demo_catalog
from rebill.domain.period import Period
from rebill.services.access.keys import create_key
from rebill.services.catalog.apply import apply_catalog
from tests.integration.test_alerts import free_port
from tests.integration.test_online_processes import REBILL

KEYS = 40
OUTAGE_SECONDS = 4.0


def _killer(db_url: str, application: str, stop: threading.Event, killed: list[int]) -> None:
    """Terminate the server's connections (only those: other tests share the server) every
    100 ms for OUTAGE_SECONDS."""
    engine = create_engine(normalize_url(db_url))
    ends = time.monotonic() + OUTAGE_SECONDS
    with engine.connect() as connection:
        while not stop.wait(0.1) and time.monotonic() < ends:
            rows = connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name AND pid <> pg_backend_pid()"
                ),
                {"name": application},
            ).all()
            connection.commit()
            killed.append(len(rows))
    engine.dispose()


def _until_answered(
    client: httpx.Client, body: dict[str, Any], headers: dict[str, str], seen: Counter[int]
) -> httpx.Response:
    deadline = time.monotonic() + 60
    while True:
        answer = client.post("/v1/calls", json=body, headers=headers)
        seen[answer.status_code] += 1
        if answer.status_code == 503:
            assert answer.headers["Retry-After"] == "1"
            assert answer.json()["code"] == "database_unavailable"
        if answer.status_code not in (503, 409) or time.monotonic() > deadline:
            return answer
        time.sleep(0.05)


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_connections_killed_while_keyed_requests_run(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REBILL_NOW", raising=False)
    now = datetime.now(UTC)
    application = f"rebill_outage_{uuid.uuid4().hex[:8]}"
    server_url = f"{db_url}&application_name={application}"
    app = build(Settings(database_url=db_url))
    apply_catalog(app.uow, demo_catalog(Period(now.year, now.month)), "catalog", now)
    token, _ = create_key(app.uow, "agency", "acme", None, "admin", now)
    app.dispose()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "REBILL_NOW"}
    server = subprocess.Popen(
        [REBILL, "serve", "--port", str(port), "--no-background", "--db", server_url],
        env=env,
        stderr=open(os.environ.get("OUTAGE_LOG", os.devnull), "w"),  # noqa: SIM115
    )
    base = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=base, timeout=30)
    seen: Counter[int] = Counter()
    answers: dict[str, httpx.Response] = {}
    stop, killed = threading.Event(), []
    try:
        for _ in range(900):  # start-up is slow on a loaded 2-core machine
            try:
                if client.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        killer = threading.Thread(target=_killer, args=(db_url, application, stop, killed))
        killer.start()
        started = time.monotonic()
        # At least KEYS keyed requests, and more for as long as the outage lasts: a fast
        # server answers KEYS requests well before the outage is over.
        while len(answers) < KEYS or killer.is_alive():
            n = len(answers)
            body = {"calls": [_call(f"outage-{n}", now)]}
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"k-{n}"}
            answers[f"k-{n}"] = _until_answered(client, body, headers, seen)
        assert time.monotonic() - started > OUTAGE_SECONDS  # the requests met the outage
        killer.join()
        # After the outage: every key replays its answer.
        for n in range(len(answers)):
            body = {"calls": [_call(f"outage-{n}", now)]}
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"k-{n}"}
            replay = client.post("/v1/calls", json=body, headers=headers)
            first = answers[f"k-{n}"]
            assert replay.headers.get("Idempotent-Replayed") == "true", (
                n,
                replay.text,
                first.status_code,
                first.text,
                seen,
            )
            assert replay.json() == answers[f"k-{n}"].json()
    finally:
        stop.set()
        client.close()
        server.terminate()
        server.wait(timeout=30)
    assert sum(killed) > 0  # the outage happened
    assert seen[503] > 0, seen  # the outage was seen, as 503s
    assert 500 not in seen, seen
    assert {a.status_code for a in answers.values()} == {200}
    statuses = Counter(a.json()["results"][0]["status"] for a in answers.values())
    # "duplicate" only when a commit went through but its connection died before saying so.
    assert set(statuses) <= {"accepted", "duplicate"}, statuses
    engine = create_engine(normalize_url(db_url))
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT COUNT(*) FROM calls")).scalar_one()
        in_flight = connection.execute(
            text("SELECT COUNT(*) FROM idempotency_records WHERE state = 'in_flight'")
        ).scalar_one()
    engine.dispose()
    assert stored == len(answers)
    assert in_flight == 0


def _call(call_id: str, now: datetime) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "sub_account": "bright-dental",
        "direction": "outbound",
        "started_at": (now - timedelta(hours=1)).isoformat(),
        "duration_seconds": 60,
    }
