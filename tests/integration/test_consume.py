"""`rebill consume` (issue 13): call-ended events from NATS JetStream recorded through the API's
ingestion service; the consumer killed mid-stream (SIGKILL) and started again stores every
unique call exactly once (acks follow commits; de-duplication by call id). Needs NATS at
127.0.0.1:4222 (skipped otherwise)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from rebill.adapters.db.engine import normalize_url
from rebill.bootstrap import build
from rebill.config import Settings
from rebill.demo.data import demo_catalog
from rebill.domain.period import Period
from rebill.services.catalog.apply import apply_catalog
from rebill.services.streaming import record_events

REBILL = str(Path(sys.executable).parent / "rebill")
NATS = "nats://127.0.0.1:4222"
UNIQUE = 400
REPEATS = 80  # events sent a second time (the producer retried)


def _nats_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=1):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _nats_up(), reason="NATS JetStream at 127.0.0.1:4222")


def _events(now: datetime) -> list[bytes]:
    started = (now - timedelta(hours=1)).isoformat()
    subs = ["bright-dental", "harbor-realty", "summit-hvac"]
    events = [
        {
            "agency": "acme",
            "call_id": f"nats-{n}",
            "sub_account": subs[n % 3],
            "direction": "outbound",
            "started_at": started,
            "duration_seconds": 30 + n % 200,
        }
        for n in range(UNIQUE)
    ]
    events += events[:REPEATS]
    events.append({"call_id": "orphan"})  # no agency: rejected, acknowledged, not stored
    return [json.dumps(e).encode() for e in events]


async def _publish(stream: str, payloads: list[bytes]) -> None:
    import nats

    connection = await nats.connect(NATS)
    js = connection.jetstream()
    await js.add_stream(name=stream, subjects=[f"{stream}.calls"])
    for payload in payloads:
        await js.publish(f"{stream}.calls", payload)
    await connection.drain()


async def _drop(stream: str) -> None:
    import nats

    connection = await nats.connect(NATS)
    await connection.jetstream().delete_stream(stream)
    await connection.drain()


def _stored(db_url: str) -> int:
    engine = create_engine(normalize_url(db_url))
    with engine.connect() as connection:
        count = connection.execute(text("SELECT COUNT(*) FROM calls")).scalar_one()
    engine.dispose()
    return int(count)


def test_consumer_killed_mid_stream_stores_each_unique_call_once(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REBILL_NOW", raising=False)
    now = datetime.now(UTC)
    app = build(Settings(database_url=db_url))
    apply_catalog(app.uow, demo_catalog(Period(now.year, now.month)), "catalog", now)
    app.dispose()
    stream = f"rebill_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_publish(stream, _events(now)))
    env = {k: v for k, v in os.environ.items() if k != "REBILL_NOW"}
    command = [REBILL, "consume", "--nats", NATS, "--stream", stream, "--db", db_url]
    try:
        first = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while _stored(db_url) < 50 and time.monotonic() < deadline:
            time.sleep(0.05)
        first.kill()  # mid-stream, maybe between a commit and its acks
        first.wait()
        midway = _stored(db_url)
        assert midway > 0
        subprocess.run([*command, "--until-idle"], env=env, check=True, timeout=120)
        assert _stored(db_url) == UNIQUE
    finally:
        asyncio.run(_drop(stream))


def test_a_bad_event_is_rejected_and_a_good_one_recorded(sqlite_url: str) -> None:
    now = datetime.now(UTC)
    app = build(Settings(database_url=sqlite_url))
    apply_catalog(app.uow, demo_catalog(Period(now.year, now.month)), "catalog", now)
    good, *_ = _events(now)
    odd = [
        b"[" * 100_000,  # nested too deeply
        b'{"agency": "acme\\ud800", "call_id": "y"}',  # an agency no database can hold
        b'{"agency": "acme", "specversion": "1.0", "id": "z", "data": "hello"}',
    ]
    outcomes = record_events(
        app.uow, [good, b"not json", b'{"call_id": "x"}', b'{"agency": "nope"}', *odd, good], now
    )
    assert [o.status for o in outcomes] == [
        "accepted",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "duplicate",
    ]
    assert all(o.done for o in outcomes)
    app.dispose()


def test_an_unknown_stream_is_one_clear_error(sqlite_url: str) -> None:
    done = subprocess.run(
        [REBILL, "consume", "--nats", NATS, "--stream", "no_such_stream", "--db", sqlite_url],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 1
    assert "cannot read stream 'no_such_stream'" in done.stderr
    assert "stream not found" in done.stderr
