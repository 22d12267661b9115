"""The panel's test world: a SQLite database seeded with the demo data (the agency `acme` with
its brand and custom domain, last month's calls imported and closed, this month's calls up to
the fixed clock), a second agency `zenith`, and sign-ins for every role. The browser tests
serve it with uvicorn in a thread; the isolation tests use FastAPI's TestClient."""

from __future__ import annotations

import re
import socket
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from rebill.bootstrap import App, build
from rebill.config import Settings
from rebill.demo.data import AGENCY, TIMEZONE, demo_calls, demo_catalog
from rebill.domain.period import Period
from rebill.services.access.users import create_user
from rebill.services.catalog.apply import apply_catalog
from rebill.services.invoicing.close import close_period
from rebill.services.usage.import_file import import_usage
from tests.conftest import TEST_SCRYPT_N

NOW = datetime.fromisoformat("2026-11-14T18:00:00+00:00")
DOMAIN = "portal.acme.example"
BRAND_NAME = "Acme Voice"
PLATFORM_NAME = "Example Voice Platform"
PASSWORD = "correct horse battery"
USERS = {
    "ops": ("ops@platform.example", "platform", None, None),
    "admin": ("admin@acme.example", "admin", AGENCY, None),
    "billing": ("billing@acme.example", "billing", AGENCY, None),
    "bright": ("owner@bright-dental.example", "client", AGENCY, "bright-dental"),
    "harbor": ("owner@harbor-realty.example", "client", AGENCY, "harbor-realty"),
    "zenith": ("admin@zenith.example", "admin", "zenith", None),
    "zclient": ("owner@orbit.example", "client", "zenith", "orbit"),
}


def png(colour: tuple[int, int, int], size: int = 16) -> bytes:
    """A tiny solid PNG (the agency's logo)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(colour) * size
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * size))
        + chunk(b"IEND", b"")
    )


def zenith_entry() -> dict[str, Any]:
    return {
        "id": "zenith",
        "name": "Zenith Calls",
        "timezone": "UTC",
        "invoice_prefix": "ZEN",
        "brand": {"display_name": "Zenith Calls", "colour": "#7c3aed"},
        "plans": [
            {
                "id": "basic",
                "name": "Basic",
                "monthly_fee": "20.00",
                "included_minutes": 100,
                "voice": {
                    "outbound": {"overage_per_minute": "0.20"},
                    "inbound": {"overage_per_minute": "0.20"},
                },
            }
        ],
        "sub_accounts": [
            {
                "id": "orbit",
                "name": "Orbit Dental",
                "plan": "basic",
                "subscribed_at": "2026-09-01T00:00:00Z",
            }
        ],
    }


def seed(app: App, tmp: Path) -> None:
    """The demo month (October 2026) closed, November up to NOW open, two agencies, users."""
    tz = ZoneInfo(TIMEZONE)
    current = Period.containing(NOW, tz)
    last = current.previous()
    (tmp / "logo.png").write_bytes(png((200, 60, 20)))
    catalog = demo_catalog(last)
    catalog["agencies"][0]["brand"] = {
        "display_name": BRAND_NAME,
        "colour": "#c2410c",
        "support_email": "help@acme.example",
        "domain": DOMAIN,
        "logo": "logo.png",
    }
    catalog["agencies"].append(zenith_entry())
    apply_catalog(app.uow, catalog, str(tmp / "catalog.json"), NOW, base_dir=tmp)
    calls = list(demo_calls(last))
    import_usage(app.uow, AGENCY, enumerate(calls, start=1), "october", NOW)
    close_period(app.uow, last, None, NOW)
    recent = [
        {**c, "call_id": c["call_id"].replace("demo-", "nov-")}
        for c in demo_calls(current, seed=11)
        if datetime.fromisoformat(c["started_at"]) < NOW
    ]
    import_usage(app.uow, AGENCY, enumerate(recent, start=1), "november", NOW)
    for email, role, agency, sub in USERS.values():
        create_user(app.uow, app.passwords, email, PASSWORD, role, agency, sub, NOW)


@dataclass
class World:
    db_url: str
    tmp: Path


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """One seeded database file, copied per use (seeding imports about 40,000 calls)."""
    tmp = tmp_path_factory.mktemp("panel-world")
    url = f"sqlite:///{tmp / 'seed.db'}"
    app = build(Settings(database_url=url, now=NOW, scrypt_n=TEST_SCRYPT_N))
    try:
        seed(app, tmp)
    finally:
        app.dispose()
    return World(url, tmp)


def copy_of(world: World, target: Path) -> str:
    import sqlite3

    source = sqlite3.connect(str(world.tmp / "seed.db"))
    destination = sqlite3.connect(str(target))
    with destination:
        source.backup(destination)
    source.close()
    destination.close()
    return f"sqlite:///{target}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@pytest.fixture
def fresh_db(world: World, tmp_path: Path) -> Iterator[str]:
    yield copy_of(world, tmp_path / "rebill.db")


@pytest.fixture
def app(fresh_db: str) -> Iterator[App]:
    """The seeded world's app on a fresh copy of the database (the HTTP tests')."""
    built = build(Settings(database_url=fresh_db, now=NOW, scrypt_n=TEST_SCRYPT_N))
    yield built
    built.dispose()


@pytest.fixture
def client(app: App) -> Iterator[Any]:
    """A TestClient of the whole app (API, panel, portal, console) over `app`."""
    from fastapi.testclient import TestClient

    from rebill.entrypoints.api.app import create_app

    with TestClient(create_app(app)) as test_client:
        yield test_client
