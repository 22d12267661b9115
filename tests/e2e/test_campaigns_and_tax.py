"""Campaigns and the buyer's tax identity end to end, on SQLite and PostgreSQL (issue 14,
docs/campaigns.md and docs/tax.md), through the `rebill` CLI and the REST API.

Setup (the hand computations below use it): platform EUR, wholesale outbound 0.09/min `1/1`;
agency `acme` (Europe/Paris, VAT 20 % exclusive, brand in FR with VAT number FR40303265045);
plan `starter`: 10.00/month, 1 included minute (60 s), postpaid, outbound 0.25/min at `60/6`,
`limits.campaigns: 2`. Sub-accounts: `berlin` (DE, VAT DE136695976: reverse charge),
`boston` (US: export), `paris` (FR: the agency's 20 %), `munich` (DE, no VAT ID: a consumer in
another member state, the agency's 20 %, its own campaign limit 3).

October calls of `berlin` (pool 60 s, then 0.25/min; wholesale 0.09/min per second):
- b1 campaign c1, 90 s: bills 90 s, 60 in the pool, 30 s overage = 0.125000; wholesale 0.135000
- b2 campaign c1, 30 s: bills 60 s, all overage = 0.250000; wholesale 0.045000
- b3 no campaign, 61 s: bills 66 s = 0.275000; wholesale 0.091500
- b4 campaign c2, 120 s: bills 120 s = 0.500000; wholesale 0.180000
so rows (none) 1 call 66 s 0.275000/0.091500, c1 2 calls 150 s 0.375000/0.180000, c2 1 call
120 s 0.500000/0.180000; totals 4 calls, 336 s = 5.600 min, 1.150000 / 0.451500.
`boston`: one call of campaign c9, 60 s, all in its pool: retail 0, wholesale 0.090000.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rebill.bootstrap import build
from rebill.config import Settings
from rebill.entrypoints.api.app import create_app
from rebill.services.access.keys import create_key
from tests.e2e.test_caps_cli import Cli
from tests.integration.test_invoice_pdf import embedded_xml, pdf_text
from tests.schematron import assert_en16931_valid

IN_OCTOBER = "2026-10-20T12:00:00Z"
AFTER_OCTOBER = "2026-11-02T12:00:00Z"
SELLER_VAT = "FR40303265045"
BERLIN_VAT = "DE136695976"
REVERSE_CHARGE = "Reverse charge - Article 196 of Council Directive 2006/112/EC"


def catalog() -> dict[str, Any]:
    return {
        "platform": {
            "name": "Example Voice Platform",
            "currency": "EUR",
            "wholesale": {
                "voice": {
                    "outbound": {"per_minute": "0.09", "increment": "1/1"},
                    "inbound": {"per_minute": "0.07", "increment": "1/1"},
                },
                "numbers": {"local": {"monthly": "1.15"}, "toll_free": {"monthly": "2.15"}},
            },
        },
        "agencies": [
            {
                "id": "acme",
                "name": "Acme Voice",
                "timezone": "Europe/Paris",
                "invoice_prefix": "ACME",
                "tax": {"mode": "manual", "rate": "20", "behavior": "exclusive", "label": "VAT"},
                "brand": {
                    "display_name": "Acme Voice SAS",
                    "support_email": "help@acme.example",
                    "address": ["12 rue de la Paix", "75002 Paris"],
                    "country": "FR",
                    "tax_id": SELLER_VAT,
                },
                "plans": [
                    {
                        "id": "starter",
                        "name": "Starter",
                        "monthly_fee": "10.00",
                        "included_minutes": 1,
                        "voice": {
                            "outbound": {"overage_per_minute": "0.25", "increment": "60/6"},
                            "inbound": {"overage_per_minute": "0.20", "increment": "60/6"},
                        },
                        "limits": {"campaigns": 2, "numbers": 1, "parallel_calls": 5},
                    }
                ],
                "sub_accounts": [
                    {
                        "id": "berlin",
                        "name": "Zahnarzt Praxis GmbH",
                        "email": "rechnung@praxis.example",
                        "country": "DE",
                        "tax_id": "de 136 695 976",
                        "address": ["Friedrichstrasse 10", "10117 Berlin"],
                        "plan": "starter",
                        "subscribed_at": "2026-09-01T00:00:00+02:00",
                    },
                    {
                        "id": "boston",
                        "name": "Bright Dental Inc.",
                        "email": "billing@bright.example",
                        "country": "US",
                        "tax_id": "12-3456789",
                        "address": ["1 Main St", "Boston, MA 02108"],
                        "plan": "starter",
                        "subscribed_at": "2026-09-01T00:00:00+02:00",
                    },
                    {
                        "id": "paris",
                        "name": "Cabinet Dentaire",
                        "country": "FR",
                        "plan": "starter",
                        "subscribed_at": "2026-09-01T00:00:00+02:00",
                    },
                    {
                        "id": "munich",
                        "name": "Dr. Huber",
                        "country": "DE",
                        "plan": "starter",
                        "subscribed_at": "2026-09-01T00:00:00+02:00",
                        "limits": {"campaigns": 3},
                    },
                ],
            }
        ],
    }


CALLS = [
    ("b1", "berlin", "2026-10-05T10:00:00Z", 90, "c1"),
    ("b2", "berlin", "2026-10-06T10:00:00Z", 30, "c1"),
    ("b3", "berlin", "2026-10-07T10:00:00Z", 61, None),
    ("b4", "berlin", "2026-10-08T10:00:00Z", 120, "c2"),
    ("n1", "boston", "2026-10-09T10:00:00Z", 60, "c9"),
]


class World(Cli):
    def authorize_campaign(self, sub: str, campaign: str | None) -> dict[str, Any]:
        args = ["authorize", "--agency", "acme", "--sub-account", sub, "--direction", "outbound"]
        if campaign is not None:
            args += ["--campaign-id", campaign]
        document: dict[str, Any] = self.json(*args)
        return document

    def import_calls(self, calls: list[tuple[str, str, str, int, str | None]]) -> None:
        self.files += 1
        path = self.folder / f"calls-{self.files}.jsonl"
        rows = [
            {
                "call_id": call_id,
                "sub_account": sub,
                "started_at": at,
                "duration_seconds": seconds,
                "direction": "outbound",
                **({"campaign_id": campaign} if campaign else {}),
            }
            for call_id, sub, at, seconds, campaign in calls
        ]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        report = self.json("usage", "import", str(path), "--agency", "acme")
        assert report["imported"] == len(calls), report

    def api(self) -> tuple[TestClient, dict[str, str]]:
        rebill = build(Settings.from_env(self.db))
        now = rebill.clock.now()
        keys = {
            "admin": create_key(rebill.uow, "agency", "acme", None, "admin", now)[0],
            "berlin": create_key(rebill.uow, "sub_account", "acme", "berlin", None, now)[0],
        }
        return TestClient(create_app(rebill), raise_server_exceptions=False), keys


@pytest.fixture
def world(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("REBILL_NOW", IN_OCTOBER)
    cli = World(db_url, tmp_path)
    cli.apply(catalog())
    return cli


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_campaign_limit_at_its_edge(world: World) -> None:
    """Limit 2: the first and second campaigns open, a third is refused, an open one and a call
    without campaign still pass; a sub-account's own limit (3) lets a third open."""
    assert world.authorize_campaign("berlin", "c1")["allowed"] is True  # 0 open
    world.import_calls(CALLS[:2])  # c1 open
    assert world.authorize_campaign("berlin", "c2")["allowed"] is True  # the 2nd (= n) passes
    world.import_calls(CALLS[2:4])  # c2 open: 2 open
    refused = world.authorize_campaign("berlin", "c3")  # the 3rd (n + 1)
    assert refused == {**refused, "allowed": False, "reason": "campaign_limit"}
    assert refused["max_duration_seconds"] == 0
    for open_one in ("c1", "c2", None):
        decision = world.authorize_campaign("berlin", open_one)
        assert decision["allowed"] is True and decision["reason"] is None, (open_one, decision)
    # munich's own limit is 3: two open, a third passes, a fourth is refused.
    world.import_calls(
        [
            ("m1", "munich", "2026-10-05T10:00:00Z", 10, "x1"),
            ("m2", "munich", "2026-10-05T11:00:00Z", 10, "x2"),
        ]
    )
    assert world.authorize_campaign("munich", "x3")["allowed"] is True
    world.import_calls([("m3", "munich", "2026-10-05T12:00:00Z", 10, "x3")])
    assert world.authorize_campaign("munich", "x4")["reason"] == "campaign_limit"
    # The same answer from the API, with `campaign_id` in the body.
    client, keys = world.api()
    for campaign, allowed in (("c3", False), ("c2", True)):
        answer = client.post(
            "/v1/calls/authorize",
            json={"sub_account": "berlin", "direction": "outbound", "campaign_id": campaign},
            headers=bearer(keys["admin"]),
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["allowed"] is allowed
        assert body["reason"] == (None if allowed else "campaign_limit")


def test_campaign_limit_in_the_next_period_starts_again(world: World) -> None:
    world.import_calls(CALLS[:4])
    assert world.authorize_campaign("berlin", "c3")["reason"] == "campaign_limit"
    world.run("apply", str(world.folder / "catalog.yaml"))  # unchanged: still limited
    assert world.authorize_campaign("berlin", "c3")["reason"] == "campaign_limit"


def _sum(rows: list[dict[str, Any]], key: str) -> Decimal:
    return sum((Decimal(str(r[key])) for r in rows), Decimal(0))


def test_usage_by_campaign_sums_to_the_sub_account_totals(world: World) -> None:
    world.import_calls(CALLS)
    report = world.json(
        "usage", "summary", "--agency", "acme", "--period", "2026-10", "--by", "campaign"
    )
    rows = [
        (
            r["sub_account"],
            r["campaign"],
            r["calls"],
            r["billable_minutes"],
            r["retail_amount"],
            r["wholesale_cost"],
        )
        for r in report["rows"]
    ]
    assert rows == [
        ("berlin", None, 1, "1.100", "0.275000", "0.091500"),
        ("berlin", "c1", 2, "2.500", "0.375000", "0.180000"),
        ("berlin", "c2", 1, "2.000", "0.500000", "0.180000"),
        ("boston", "c9", 1, "1.000", "0.000000", "0.090000"),
    ]
    summary = world.json("usage", "summary", "--agency", "acme", "--period", "2026-10")
    minutes = {r["sub_account"]: Decimal(r["billable_minutes"]) for r in summary["sub_accounts"]}
    for total in report["sub_accounts"]:
        mine = [r for r in report["rows"] if r["sub_account"] == total["sub_account"]]
        for key in ("calls", "billable_seconds", "retail_amount", "wholesale_cost", "profit"):
            assert _sum(mine, key) == Decimal(str(total[key])), (total, key)
        assert Decimal(total["billable_seconds"]) / 60 == minutes[total["sub_account"]]
    berlin = next(t for t in report["sub_accounts"] if t["sub_account"] == "berlin")
    assert berlin == {
        "sub_account": "berlin",
        "calls": 4,
        "billable_seconds": 336,
        "billable_minutes": "5.600",
        "retail_amount": "1.150000",
        "wholesale_cost": "0.451500",
        "profit": "0.698500",
    }
    table = world.run(
        "usage", "summary", "--agency", "acme", "--period", "2026-10", "--by", "campaign"
    ).stdout
    assert "(none)" in table and "c1" in table
    # The API's usage report, JSON and CSV; a sub-account key sees its own rows only.
    client, keys = world.api()
    params = {"period": "2026-10", "group_by": "campaign"}
    answer = client.get("/v1/reports/usage", params=params, headers=bearer(keys["admin"]))
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"] == report["rows"]
    assert answer.json()["sub_accounts"] == report["sub_accounts"]
    answer = client.get(
        "/v1/reports/usage", params={**params, "format": "csv"}, headers=bearer(keys["admin"])
    )
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["sub_account"], r["campaign"], r["retail_amount"]) for r in parsed] == [
        ("berlin", "", "0.275000"),
        ("berlin", "c1", "0.375000"),
        ("berlin", "c2", "0.500000"),
        ("boston", "c9", "0.000000"),
    ]
    own = client.get("/v1/reports/usage", params=params, headers=bearer(keys["berlin"]))
    assert own.status_code == 200, own.text
    assert {r["sub_account"] for r in own.json()["data"]} == {"berlin"}
    wrong = client.get(
        "/v1/reports/usage", params={**params, "group_by": "nope"}, headers=bearer(keys["admin"])
    )
    assert wrong.status_code in (400, 422)
    bad = world.run(
        "usage", "summary", "--agency", "acme", "--period", "2026-10", "--by", "nope", ok=False
    )
    assert bad.exit_code != 0 and "--by" in bad.stderr


def _invoice_of(document: dict[str, Any], sub: str) -> dict[str, Any]:
    (agency,) = document["agencies"]
    invoice: dict[str, Any] = next(i for i in agency["retail_invoices"] if i["sub_account"] == sub)
    return invoice


def test_reverse_charge_and_export_invoices_pass_the_en16931_schematron(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.import_calls(CALLS)
    monkeypatch.setenv("REBILL_NOW", AFTER_OCTOBER)
    closed = world.json("close", "--period", "2026-10", "--agency", "acme")
    berlin, boston, paris = (_invoice_of(closed, s) for s in ("berlin", "boston", "paris"))
    # berlin: c1 + c2 + none overage 1.15 -> 1.15, plan fee 10.00; no VAT (reverse charge).
    assert (berlin["subtotal"], berlin["tax"], berlin["total"]) == ("11.15", "0.00", "11.15")
    assert (boston["subtotal"], boston["tax"], boston["total"]) == ("10.00", "0.00", "10.00")
    assert (paris["subtotal"], paris["tax"], paris["total"]) == ("10.00", "2.00", "12.00")
    expected = {"berlin": "AE", "boston": "G", "paris": "S"}
    for sub, invoice in (("berlin", berlin), ("boston", boston), ("paris", paris)):
        out = world.folder / f"{sub}.pdf"
        world.run("invoices", "pdf", invoice["number"], "-o", str(out))
        pdf = out.read_bytes()
        xml = embedded_xml(pdf)
        assert_en16931_valid(xml)
        assert f"<ram:CategoryCode>{expected[sub]}</ram:CategoryCode>".encode() in xml
        if sub == "berlin":
            assert f'schemeID="VA">{BERLIN_VAT}<'.encode() in xml
            assert b"<ram:CountryID>DE</ram:CountryID>" in xml
            assert b"Friedrichstrasse 10" in xml
            assert REVERSE_CHARGE.encode() in xml
            assert REVERSE_CHARGE in pdf_text(pdf)
        if sub == "boston":
            assert b"<ram:CountryID>US</ram:CountryID>" in xml
            assert b"VATEX-EU-G" in xml and b"Export outside the EU" in xml


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"tax_id": "DE136695977"}, "tax_id", "check digit"),
        ({"country": "XX"}, "country", "ISO 3166"),
        ({"country": "DE", "tax_id": "123"}, "tax_id", "EU VAT"),
    ],
)
def test_the_catalog_refuses_a_bad_tax_identity_and_applies_nothing(
    world: World, change: dict[str, Any], field: str, words: str
) -> None:
    document = catalog()
    subs = document["agencies"][0]["sub_accounts"]
    subs[1] = {**subs[1], **change}  # boston
    subs.append({"id": "newcomer", "name": "New", "plan": "starter"})
    path = world.folder / "bad.yaml"
    import yaml

    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    result = world.run("apply", str(path), ok=False)
    assert result.exit_code != 0
    message = result.stderr
    assert f"sub_accounts.1.{field}" in message or f"sub_accounts[1].{field}" in message, message
    assert words in message, message
    client, keys = world.api()
    stored = client.get("/v1/sub_accounts", headers=bearer(keys["admin"])).json()["data"]
    assert "newcomer" not in {s["id"] for s in stored}
    boston = next(s for s in stored if s["id"] == "boston")
    assert (boston["country"], boston["tax_id"]) == ("US", "12-3456789")
    berlin = next(s for s in stored if s["id"] == "berlin")
    assert berlin["tax_id"] == BERLIN_VAT  # kept in its compact form
    assert berlin["address"] == ["Friedrichstrasse 10", "10117 Berlin"]


def test_the_api_sets_a_tax_identity_with_the_same_checks(world: World) -> None:
    client, keys = world.api()
    url = "/v1/sub_accounts/paris/tax_identity"
    bad = client.post(url, json={"tax_id": "FR00000000000"}, headers=bearer(keys["admin"]))
    assert bad.status_code == 422, bad.text
    problem = bad.json()
    assert problem["code"] == "invalid_input" and "tax_id" in json.dumps(problem)
    unchanged = client.get("/v1/sub_accounts/paris", headers=bearer(keys["admin"])).json()
    assert unchanged["tax_id"] is None
    good = client.post(
        url,
        json={"tax_id": "FR40303265045", "address": ["1 place X", "69001 Lyon"]},
        headers=bearer(keys["admin"]),
    )
    assert good.status_code == 200, good.text
    assert (good.json()["tax_id"], good.json()["country"]) == ("FR40303265045", "FR")
    assert good.json()["address"] == ["1 place X", "69001 Lyon"]
    # The agency's field: a sub-account's own key may not change it.
    own = client.post(
        "/v1/sub_accounts/berlin/tax_identity",
        json={"country": "FR"},
        headers=bearer(keys["berlin"]),
    )
    assert own.status_code == 403, own.text
    still = client.get("/v1/sub_accounts/berlin", headers=bearer(keys["admin"])).json()
    assert still["country"] == "DE"
