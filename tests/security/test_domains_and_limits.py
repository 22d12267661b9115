"""Domain takeover (item 4), limits before work (item 5) and the low items (11): refused with
a clear problem, nothing changed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rebill.entrypoints.api.app import create_app
from rebill.entrypoints.cli.common import masked_url
from rebill.services.brand import domains
from tests.e2e.api_fixtures import ACME_S1, BETA_DOMAIN, World
from tests.security.conftest import snapshot


@dataclass
class FakeDns:
    """A resolver double: TXT records by name."""

    records: dict[str, list[str]] = field(default_factory=dict)

    def txt_records(self, name: str) -> list[str]:
        return self.records.get(name, [])


# -- domains -------------------------------------------------------------------------------
def test_an_agency_cannot_take_another_agencys_domain(world: World) -> None:
    before = snapshot(world)
    answer = world.client.post(
        "/v1/catalog",
        json={"agencies": [{"id": "acme", "brand": {"domain": BETA_DOMAIN}}]},
        headers=world.headers("admin"),
    )
    assert answer.status_code == 403 and answer.json()["param"] == "agencies[0].brand.domain"
    asked = world.client.post(
        "/v1/domains", json={"domain": BETA_DOMAIN}, headers=world.headers("admin")
    )
    assert asked.status_code == 409, asked.text
    assert snapshot(world) == before
    portal = world.client.get("/client/sign-in", headers={"host": BETA_DOMAIN})
    assert "Beta" in portal.text or portal.status_code == 200


@pytest.mark.parametrize("who", ["billing", "sub"])
def test_roles_that_may_not_change_settings_cannot_ask_for_a_domain(world: World, who: str) -> None:
    before = snapshot(world)
    answer = world.client.post(
        "/v1/domains", json={"domain": "portal.acme-voice.com"}, headers=world.headers(who)
    )
    assert answer.status_code in (403, 404), answer.text
    assert snapshot(world) == before


@pytest.mark.parametrize(
    "domain",
    ["127.0.0.1", "localhost", "[::1]", "rebill.test", "billing.platform.example.com", "a..b.com"],
)
def test_a_platform_host_or_a_non_domain_is_refused(world: World, domain: str) -> None:
    world.rebill.settings = replace(world.rebill.settings, platform_hosts=("platform.example.com",))
    before = snapshot(world)
    answer = world.client.post(
        "/v1/domains", json={"domain": domain}, headers=world.headers("admin")
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["param"] == "domain"
    assert snapshot(world) == before


def test_a_domain_is_active_only_after_dns_proof_or_platform_approval(world: World) -> None:
    dns = FakeDns()
    world.rebill.resolver = dns
    admin = world.headers("admin")
    asked = world.client.post(
        "/v1/domains", json={"domain": "Portal.Acme-Voice.com."}, headers=admin
    )
    assert asked.status_code == 201, asked.text
    pending = asked.json()
    assert pending["domain"] == "portal.acme-voice.com" and pending["status"] == "pending"
    assert (
        world.client.get("/client/sign-in", headers={"host": "portal.acme-voice.com"}).status_code
        == 404
    )
    check = pending["verification"]
    refused = world.client.post("/v1/domains/portal.acme-voice.com/verify", headers=admin)
    assert refused.status_code == 409 and check["name"] in refused.text
    dns.records[check["name"]] = ["unrelated", check["value"]]
    verified = world.client.post("/v1/domains/portal.acme-voice.com/verify", headers=admin)
    assert verified.status_code == 200 and verified.json()["status"] == "active"
    served = world.client.get("/client/sign-in", headers={"host": "portal.acme-voice.com"})
    assert served.status_code == 200 and "Acme" in served.text
    # an agency key cannot approve; the platform can
    other = world.client.post("/v1/domains", json={"domain": "calls.acme-voice.com"}, headers=admin)
    assert other.status_code == 201
    before = snapshot(world)
    denied = world.client.post("/v1/domains/calls.acme-voice.com/approve", headers=admin)
    assert denied.status_code == 403
    assert snapshot(world) == before
    approved = world.client.post(
        "/v1/domains/calls.acme-voice.com/approve",
        params={"agency": "acme"},
        headers=world.headers("platform"),
    )
    assert approved.status_code == 200 and approved.json()["status"] == "active"
    listed = world.client.get("/v1/domains", headers=admin).json()["data"]
    assert {d["domain"]: d["status"] for d in listed} == {
        "calls.acme-voice.com": "active",
        "portal.acme-voice.com": "inactive",
    }


def test_the_platforms_own_host_never_serves_an_agency_portal(world: World) -> None:
    with world.rebill.engine.begin() as connection:  # as an old, unchecked brand would
        connection.exec_driver_sql(
            "UPDATE custom_domains SET domain = 'console.rebill-platform.com', "
            "active_domain = 'console.rebill-platform.com' WHERE agency_id = 'beta'"
        )
    world.rebill.settings = replace(
        world.rebill.settings, platform_hosts=("console.rebill-platform.com",)
    )
    answer = world.client.get(
        "/sign-in", headers={"host": "console.rebill-platform.com"}, follow_redirects=False
    )
    assert answer.status_code == 200, "the platform's own sign-in page, not a redirect"
    assert "/client/" not in answer.headers.get("location", "")


# -- limits before work --------------------------------------------------------------------
def test_an_unauthenticated_body_is_refused_before_it_is_read(world: World) -> None:
    big = b"[" + b"1," * (3 * 1024 * 1024) + b"1]"
    answer = world.client.post(
        "/v1/calls", content=big, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 401
    answer = world.client.post(
        "/v1/calls", content=b"{}", headers={"Authorization": "Bearer rk_nope"}
    )
    assert answer.status_code == 401


def test_an_oversized_body_is_413_even_with_a_good_key(world: World) -> None:
    before = snapshot(world)
    big = json.dumps({"agencies": [{"id": "acme", "name": "x" * (5 * 1024 * 1024)}]})
    answer = world.client.post(
        "/v1/catalog",
        content=big,
        headers={**world.headers("admin"), "content-type": "application/json"},
    )
    assert answer.status_code == 413
    assert answer.json()["code"] == "payload_too_large"

    def chunks() -> Any:  # no Content-Length: counted while read
        for _ in range(40):
            yield b" " * (128 * 1024)

    streamed = world.client.post(
        "/v1/webhook_endpoints", content=chunks(), headers=world.headers("admin")
    )
    assert streamed.status_code == 413
    assert snapshot(world) == before


@pytest.mark.parametrize(
    "body",
    [
        "[" * 5000 + "]" * 5000,
        '{"agencies": [{"id": "acme", "credit_limit": ' + "9" * 5000 + "}]}",
        '{"agencies": [{"id": "acme", "credit_limit": 1e999999}]}',
        '{"agencies": [{"id": "acme", "credit_limit": NaN}]}',
        '{"agencies": [{"id": "acme", "name": "x"' + ', "a": {' * 40 + "}" * 40 + "}]}",
    ],
)
def test_hostile_json_is_a_422_never_a_500(world: World, body: str) -> None:
    before = snapshot(world)
    answer = world.client.post(
        "/v1/catalog",
        content=body,
        headers={**world.headers("admin"), "content-type": "application/json"},
    )
    assert answer.status_code in (403, 422), answer.text
    assert snapshot(world) == before


def test_call_fields_are_typed_and_bounded(world: World) -> None:
    call = {
        "call_id": "long-campaign",
        "sub_account": ACME_S1,
        "started_at": "2026-12-03T15:00:00Z",
        "duration_seconds": 30,
        "direction": "outbound",
    }
    huge = world.client.post(
        "/v1/calls",
        json={"calls": [{**call, "campaign_id": "c" * 5_000_000}]},
        headers=world.headers("admin"),
    )
    assert huge.status_code in (413, 422)
    nested = world.client.post(
        "/v1/calls",
        json={"calls": [{**call, "campaign_id": {"a": [1, 2]}}]},
        headers=world.headers("admin"),
    )
    assert nested.status_code == 422
    long = world.client.post(
        "/v1/calls",
        json={"calls": [{**call, "campaign_id": "c" * 101}]},
        headers=world.headers("admin"),
    )
    assert long.status_code == 200
    result = long.json()["results"][0]
    assert result["status"] == "rejected" and result["error"]["param"] == "campaign_id"


# -- the low ones --------------------------------------------------------------------------
def test_the_idempotency_digest_covers_the_query_string(world: World) -> None:
    headers = {**world.headers("platform"), "Idempotency-Key": "same-key"}
    body = {"amount": "5.00", "reference": "q-1"}
    first = world.client.post(
        f"/v1/sub_accounts/{ACME_S1}/credits", params={"agency": "acme"}, json=body, headers=headers
    )
    assert first.status_code == 201, first.text
    other = world.client.post(
        "/v1/sub_accounts/zephyr-zoo/credits", params={"agency": "beta"}, json=body, headers=headers
    )
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"


def test_a_sub_account_key_does_not_see_the_agencys_credit_limit(world: World) -> None:
    world.client.post(
        "/v1/catalog",
        json={"agencies": [{"id": "acme", "credit_limit": "5000.00"}]},
        headers=world.headers("platform"),
    )
    seen = world.client.get("/v1/agencies/acme", headers=world.headers("sub")).json()
    assert seen["credit_limit"] is None
    listed = world.client.get("/v1/agencies", headers=world.headers("sub")).json()["data"]
    assert all(a["credit_limit"] is None for a in listed)
    assert (
        world.client.get("/v1/agencies/acme", headers=world.headers("admin")).json()["credit_limit"]
        == "5000.00"
    )


def test_forced_https_makes_cookies_secure_and_sends_hsts(world: World) -> None:
    world.rebill.settings = replace(world.rebill.settings, force_https=True)
    client = TestClient(create_app(world.rebill))
    page = client.get("/sign-in")
    assert page.headers["strict-transport-security"].startswith("max-age=")
    assert "secure" in page.headers["set-cookie"].lower()
    plain = world.client.get("/sign-in")
    assert "strict-transport-security" not in plain.headers
    assert "secure" not in plain.headers["set-cookie"].lower()


def test_the_docs_page_is_off_unless_asked_for(world: World) -> None:
    assert world.client.get("/docs").status_code == 404
    assert world.client.get("/openapi.json").status_code == 200


def test_the_database_url_is_printed_without_its_password() -> None:
    shown = masked_url("postgresql://rebill:s3cret-pass@db.internal:5432/rebill")
    assert "s3cret-pass" not in shown and "***" in shown and "db.internal" in shown


def test_domain_names_are_normalized_once() -> None:
    assert domains.normalized(" Portal.Example-Agency.COM. ") == "portal.example-agency.com"
