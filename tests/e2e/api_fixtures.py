"""A two-agency world for the REST API tests: `acme` and `beta`, each with plans, sub-accounts,
numbers and calls, November 2026 closed (so both have invoices and a profit report), and keys
of every kind. Beta's names, e-mails, numbers and invoice prefix are distinct from acme's, so a
leak of beta's data into an answer to an acme key can be found by text search."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rebill.bootstrap import App, build
from rebill.config import Settings
from rebill.domain.period import Period
from rebill.entrypoints.api.app import create_app
from rebill.services.access.keys import create_key
from rebill.services.brand import domains
from rebill.services.catalog.apply import apply_catalog
from rebill.services.invoicing.close import close_period
from rebill.services.usage.import_file import ingest_calls

NOW = datetime.fromisoformat("2026-12-15T12:00:00+00:00")
CLOSED = "2026-11"  # closed for both agencies
OPEN = "2026-12"  # the current month: open

# acme: two sub-accounts; s1 (bright-dental) holds a sub-account key, s2 is its sibling.
ACME_S1 = "bright-dental"
ACME_S2 = "harbor-realty"
# beta: another agency; everything here is secret to acme's keys.
BETA_SUB = "zephyr-zoo"
BETA_SUB_NAME = "Zephyr Zoo Kennels"
BETA_SUB_EMAIL = "ledger@zephyr-zoo.example"
BETA_OTHER_SUB = "quokka-quarry"
BETA_OTHER_NAME = "Quokka Quarry Works"
BETA_OTHER_EMAIL = "pay@quokka-quarry.example"
BETA_PLAN = "beta-gold"
BETA_PLAN_NAME = "Beta Gold Unlimited"
BETA_NAME = "Beta Telecom Partners"
BETA_PREFIX = "BETAX"
BETA_NUMBER = "+14445550100"
BETA_HOOK_URL = "http://127.0.0.1:9/beta-private-hook"
BETA_DOMAIN = "portal.betax-telecom.com"


def _plan(
    plan_id: str, name: str, fee: str, minutes: int, outbound: str, inbound: str
) -> dict[str, Any]:
    return {
        "id": plan_id,
        "name": name,
        "monthly_fee": fee,
        "included_minutes": minutes,
        "overage": "postpaid",
        "voice": {
            "outbound": {"overage_per_minute": outbound, "increment": "60/6"},
            "inbound": {"overage_per_minute": inbound, "increment": "60/6"},
        },
        "numbers": {"included": 1, "local": {"monthly": "3.00"}, "toll_free": {"monthly": "5.00"}},
        "limits": {"campaigns": 10, "numbers": 10, "parallel_calls": 5},
    }


def catalog() -> dict[str, Any]:
    before = "2026-10-01T00:00:00-04:00"
    return {
        "platform": {
            "name": "Example Voice Platform",
            "currency": "USD",
            "wholesale": {
                "voice": {
                    "outbound": {"per_minute": "0.090", "increment": "1/1"},
                    "inbound": {"per_minute": "0.070", "increment": "1/1"},
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
                    _plan("starter", "Starter", "49.00", 200, "0.25", "0.20"),
                    _plan("growth", "Growth", "149.00", 1000, "0.19", "0.15"),
                ],
                "sub_accounts": [
                    {
                        "id": ACME_S1,
                        "name": "Bright Dental",
                        "email": "billing@bright-dental.example",
                        "plan": "starter",
                        "subscribed_at": before,
                        "numbers": [{"e164": "+15550000001", "type": "local", "rented_at": before}],
                    },
                    {
                        "id": ACME_S2,
                        "name": "Harbor Realty",
                        "email": "billing@harbor-realty.example",
                        "plan": "growth",
                        "subscribed_at": before,
                        "numbers": [{"e164": "+15550000002", "type": "local", "rented_at": before}],
                    },
                ]
                + [
                    {
                        "id": f"acme-extra-{n:02d}",
                        "name": f"Acme Extra {n:02d}",
                        "email": f"extra{n}@acme.example",
                        "plan": "starter",
                        "subscribed_at": before,
                    }
                    for n in range(1, 6)
                ],
            },
            {
                "id": "beta",
                "name": BETA_NAME,
                "timezone": "Europe/London",
                "invoice_prefix": BETA_PREFIX,
                "tax": {"mode": "none"},
                "plans": [_plan(BETA_PLAN, BETA_PLAN_NAME, "79.00", 10, "0.33", "0.29")],
                "sub_accounts": [
                    {
                        "id": BETA_SUB,
                        "name": BETA_SUB_NAME,
                        "email": BETA_SUB_EMAIL,
                        "plan": BETA_PLAN,
                        "subscribed_at": before,
                        "numbers": [{"e164": BETA_NUMBER, "type": "local", "rented_at": before}],
                        "caps": {
                            "monthly_spend": "1.00",
                            "alerts": ["0.5", "1.0"],
                            "enforcement": "notify",
                        },
                    },
                    {
                        "id": BETA_OTHER_SUB,
                        "name": BETA_OTHER_NAME,
                        "email": BETA_OTHER_EMAIL,
                        "plan": BETA_PLAN,
                        "subscribed_at": before,
                    },
                ],
            },
        ],
    }


def calls(prefix: str, subs: list[str], day: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            "call_id": f"{prefix}-{n:04d}",
            "sub_account": subs[n % len(subs)],
            "started_at": f"{day}T15:{n % 60:02d}:00Z",
            "duration_seconds": 60 + 7 * n,
            "direction": "outbound" if n % 3 else "inbound",
        }
        for n in range(count)
    ]


@dataclass
class World:
    rebill: App
    app: FastAPI
    client: TestClient
    keys: dict[str, str] = field(default_factory=dict)  # role name -> key text
    key_ids: dict[str, str] = field(default_factory=dict)
    acme_invoices: list[str] = field(default_factory=list)
    beta_invoices: list[str] = field(default_factory=list)
    s1_invoice: str = ""
    s2_invoice: str = ""
    beta_deliveries: list[str] = field(default_factory=list)
    beta_endpoints: list[str] = field(default_factory=list)

    def headers(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}", **extra}

    def new_key(
        self, kind: str, agency: str | None = None, sub: str | None = None, role: str | None = None
    ) -> tuple[str, str]:
        return create_key(self.rebill.uow, kind, agency, sub, role, NOW)

    def beta_secrets(self) -> list[str]:
        """Text that must never appear in an answer to an acme key."""
        return [
            BETA_SUB,
            BETA_SUB_NAME,
            BETA_SUB_EMAIL,
            BETA_OTHER_SUB,
            BETA_OTHER_NAME,
            BETA_OTHER_EMAIL,
            BETA_PLAN_NAME,
            BETA_NAME,
            BETA_PREFIX,
            BETA_NUMBER,
            BETA_HOOK_URL,
            BETA_DOMAIN,
            *self.beta_invoices,
            *self.beta_deliveries,
            *self.beta_endpoints,
        ]


def make_world(url: str, close: bool = True) -> World:
    rebill = build(Settings(database_url=url, now=NOW, webhooks_allow_private=True))
    apply_catalog(rebill.uow, catalog(), "api test catalog", NOW)
    acme_subs = [ACME_S1, ACME_S2]
    ingest_calls(rebill.uow, "acme", calls("acme-nov", acme_subs, "2026-11-10", 30), NOW)
    ingest_calls(rebill.uow, "beta", calls("beta-nov", [BETA_SUB], "2026-11-10", 30), NOW)
    if close:
        close_period(rebill.uow, Period.parse(CLOSED), None, NOW)
    # December (open) usage, so the current month has data and beta's caps alerts fire.
    ingest_calls(rebill.uow, "acme", calls("acme-dec", acme_subs, "2026-12-02", 6), NOW)
    ingest_calls(rebill.uow, "beta", calls("beta-dec", [BETA_SUB], "2026-12-02", 40), NOW)
    domains.request_domain(rebill.uow, "beta", BETA_DOMAIN, domains.PlatformHosts(frozenset()), NOW)
    domains.approve_domain(rebill.uow, "beta", BETA_DOMAIN, NOW)
    app = create_app(rebill)
    world = World(rebill, app, TestClient(app, raise_server_exceptions=False))
    specs = {
        "platform": ("platform", None, None, None),
        "admin": ("agency", "acme", None, "admin"),
        "billing": ("agency", "acme", None, "billing"),
        "settings": ("agency", "acme", None, "settings"),
        "sub": ("sub_account", "acme", ACME_S1, None),
        "beta_admin": ("agency", "beta", None, "admin"),
    }
    for name, (kind, agency, sub, role) in specs.items():
        world.keys[name], world.key_ids[name] = world.new_key(kind, agency, sub, role)
    if close:
        for agency, target in (("acme", world.acme_invoices), ("beta", world.beta_invoices)):
            who = "admin" if agency == "acme" else "beta_admin"
            answer = world.client.get(
                "/v1/invoices", params={"limit": 100}, headers=world.headers(who)
            )
            assert answer.status_code == 200, answer.text
            target.extend(d["number"] for d in answer.json()["data"])
        acme = world.client.get(
            "/v1/invoices", params={"limit": 100}, headers=world.headers("admin")
        ).json()["data"]
        world.s1_invoice = next(d["number"] for d in acme if d["sub_account"] == ACME_S1)
        world.s2_invoice = next(d["number"] for d in acme if d["sub_account"] == ACME_S2)
    # beta has a webhook endpoint and a delivery (a sub-account suspended).
    beta = world.headers("beta_admin")
    created = world.client.post(
        "/v1/webhook_endpoints", json={"url": BETA_HOOK_URL, "events": []}, headers=beta
    )
    assert created.status_code == 201, created.text
    world.beta_endpoints.append(created.json()["id"])
    suspended = world.client.post(
        f"/v1/sub_accounts/{BETA_OTHER_SUB}/state",
        json={"state": "suspended", "reason": "beta-only reason"},
        headers=beta,
    )
    assert suspended.status_code == 200, suspended.text
    deliveries = world.client.get("/v1/webhook_deliveries", headers=beta)
    assert deliveries.status_code == 200, deliveries.text
    world.beta_deliveries.extend(d["id"] for d in deliveries.json()["data"])
    assert world.beta_deliveries, deliveries.text
    return world


def postgres_schema_url() -> Iterator[str | None]:
    """A fresh PostgreSQL schema (dropped afterwards), or None when no server is configured;
    for module-scoped worlds (the `db_url` fixture is per test)."""
    import os
    import uuid

    from sqlalchemy import create_engine, text

    from rebill.adapters.db.engine import normalize_url

    base = os.environ.get("REBILL_TEST_POSTGRES_URL")
    if not base:
        yield None
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalize_url(base))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{normalize_url(base)}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def world_on(backend: str, folder: Path, close: bool = True) -> Iterator[World]:
    """A world on SQLite (in `folder`) or in a fresh PostgreSQL schema (skipped without a
    server), disposed afterwards."""
    if backend == "sqlite":
        built = make_world(f"sqlite:///{folder / 'rebill.db'}", close)
        yield built
        built.rebill.dispose()
        return
    pg = postgres_schema_url()
    url = next(pg)
    if url is None:
        pytest.skip("PostgreSQL tests need REBILL_TEST_POSTGRES_URL")
    built = make_world(url, close)
    yield built
    built.rebill.dispose()
    next(pg, None)


def world_for(url: str, close: bool = True) -> Iterator[World]:
    world = make_world(url, close)
    try:
        yield world
    finally:
        world.client.close()
        world.rebill.dispose()
