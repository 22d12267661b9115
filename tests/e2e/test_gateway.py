"""Payment gateways end to end (issue 4; BILLING_MODEL §6, §7, §10; INTERFACES "Payment gateway").

Everything goes through the `rebill` CLI (`gateway link`, `gateway status --json`, `checkout
create --json`) and the API's `POST /webhooks/stripe` (FastAPI TestClient), against the in-repo
Stripe test server started once for this module. Each test creates its own connected account on
that server, so tests never see each other's Stripe data; they filter the server's request log
and events by account.

Webhooks: the test server's own dispatcher is left without a URL; the tests fetch the events it
recorded (`server.events(...)`) and POST them to rebill themselves, signed with the server's
webhook secret (`server.sign`), so the order and the number of deliveries are under the test's
control.

Hand computations (the clock is REBILL_NOW = 2026-12-15T12:00:00Z):
- agency `acme` is in America/New_York: December 2026 is
  [2026-12-01T05:00Z, 2027-01-01T05:00Z) = 31 days = 2,678,400 s; from now to its end there are
  16 days 17 h = 1,443,600 s (in UTC the month would end 5 h earlier: 1,425,600 s);
- upgrade starter (49.00) -> growth (149.00): 100.00 x 1,443,600 / 2,678,400 = 53.897849... ->
  53.90 (in UTC it would be 53.23);
- a local number (3.00/month on starter, 1 included, one already held) -> 3.00 x fraction =
  1.616935... -> 1.62;
- credits: 20.00 as asked;
- Stripe Tax on the agency's account: head office DE, exclusive, one registration in DE (19 %);
  the test server prices a session without a customer at its default tax country, DE:
  53.90 -> 10.24 (10.241), 1.62 -> 0.31 (0.3078), 20.00 -> 3.80.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import stripe
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from rebill.bootstrap import build
from rebill.config import Settings
from rebill.domain.gateway import (
    FIX_BEHAVIOR,
    FIX_HEAD_OFFICE,
    FIX_REGISTRATION,
    FIX_TAX_CODE,
)
from rebill.entrypoints.api.app import create_app
from rebill.entrypoints.cli.app import app
from stripe_test_server import StripeTestServer

KEY = "sk_test_rebill_gateway_e2e"
WEBHOOK_SECRET = "whsec_test_rebill_gateway_e2e"
SUB = "bright-dental"
ALL_MISSING = ["head_office", "defaults.tax_code", "defaults.tax_behavior"]
ZERO_TAX_WARNING = "no tax registration: tax will calculate as 0.00"

# December 2026 in America/New_York, seen from REBILL_NOW (see the module docstring).
PERIOD_SECONDS = 31 * 86400
REMAINING_SECONDS = 16 * 86400 + 17 * 3600
FRACTION = Fraction(REMAINING_SECONDS, PERIOD_SECONDS)


def half_up(value: Fraction, places: int = 2) -> Decimal:
    """Round a fraction half up, independently of the code under test."""
    scaled = value * 10**places
    whole = scaled.numerator // scaled.denominator
    if scaled - whole >= Fraction(1, 2):
        whole += 1
    return Decimal(whole).scaleb(-places)


def prorated(monthly: str) -> Decimal:
    # Micros first (BILLING_MODEL §2: prorated fees round to micro-units, then lines to cents).
    micros = half_up(Fraction(Decimal(monthly)) * FRACTION, 6)
    return half_up(Fraction(micros), 2)


UPGRADE_AMOUNT = prorated("100.00")  # 149.00 - 49.00
NUMBER_AMOUNT = prorated("3.00")
assert str(UPGRADE_AMOUNT) == "53.90"
assert str(NUMBER_AMOUNT) == "1.62"


def vat(amount: Decimal, percent: str = "19") -> Decimal:
    return half_up(Fraction(amount) * Fraction(Decimal(percent)) / 100)


# ---------------------------------------------------------------------------------------------
# the catalog
# ---------------------------------------------------------------------------------------------


def plan(plan_id: str, fee: str) -> dict[str, Any]:
    return {
        "id": plan_id,
        "name": plan_id.title(),
        "monthly_fee": fee,
        "included_minutes": 100,
        "overage": "postpaid",
        "voice": {
            "outbound": {"overage_per_minute": "0.25", "increment": "60/6"},
            "inbound": {"overage_per_minute": "0.20", "increment": "60/6"},
        },
        "numbers": {"included": 1, "local": {"monthly": "3.00"}, "toll_free": {"monthly": "5.00"}},
        "limits": {"campaigns": 5, "numbers": 5, "parallel_calls": 2},
    }


def sub_account(sub_id: str) -> dict[str, Any]:
    return {
        "id": sub_id,
        "name": sub_id.replace("-", " ").title(),
        "email": f"billing@{sub_id}.example",
        "country": "DE",
        "plan": "starter",
        "subscribed_at": "2026-11-01T00:00:00-04:00",
        # The plan's one included number is taken: the next one is charged.
        "numbers": [
            {"e164": "+15551230001", "type": "local", "rented_at": "2026-11-01T00:00:00-04:00"}
        ],
    }


def catalog() -> dict[str, Any]:
    def agency(agency_id: str, prefix: str, tax: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": agency_id,
            "name": agency_id.title() + " Voice AI",
            "timezone": "America/New_York",
            "invoice_prefix": prefix,
            "tax": tax,
            "plans": [plan("starter", "49.00"), plan("growth", "149.00")],
            "sub_accounts": [sub_account(SUB)],
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
            agency("acme", "ACME", {"mode": "stripe"}),
            agency(
                "beta",
                "BETA",
                {"mode": "manual", "rate": "20", "behavior": "exclusive", "label": "VAT"},
            ),
            agency("gamma", "GAMMA", {"mode": "none"}),
        ],
    }


# ---------------------------------------------------------------------------------------------
# the Stripe side
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[StripeTestServer]:
    with StripeTestServer(webhook_secret=WEBHOOK_SECRET, default_tax_country="DE") as test_server:
        yield test_server


@pytest.fixture(scope="module")
def sdk(server: StripeTestServer) -> Any:
    return stripe.StripeClient(KEY, base_addresses={"api": server.url, "connect": server.url})


class Agency:
    """The agency's side of its Stripe account (what it does in its Stripe dashboard)."""

    def __init__(self, sdk: Any, server: StripeTestServer) -> None:
        self.sdk, self.server = sdk, server
        account = sdk.v1.accounts.create(params={"type": "express", "country": "DE"})
        self.id = str(account.id)
        self.options = {"stripe_account": self.id}

    def onboard(self) -> None:
        self.server.complete_onboarding(self.id)

    def tax(self, **params: Any) -> None:
        self.sdk.v1.tax.settings.update(params=params, options=self.options)

    def head_office(self, country: str = "DE") -> None:
        self.tax(head_office={"address": {"country": country, "city": "Berlin"}})

    def tax_code(self) -> None:
        self.tax(defaults={"tax_code": "txcd_10000000"})

    def tax_behavior(self, behavior: str = "exclusive") -> None:
        self.tax(defaults={"tax_behavior": behavior})

    def register(self, country: str = "DE") -> None:
        self.sdk.v1.tax.registrations.create(
            params={
                "country": country,
                "country_options": {country.lower(): {"type": "standard"}},
                "active_from": "now",
            },
            options=self.options,
        )

    def ready(self) -> None:
        self.head_office()
        self.tax_code()
        self.tax_behavior()
        self.register()

    def requests(self, method: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
        return [
            r
            for r in self.server.requests
            if r["account"] == self.id
            and (method is None or r["method"] == method)
            and (path is None or r["path"] == path)
        ]

    def checkout_posts(self) -> list[dict[str, Any]]:
        return self.requests("POST", "/v1/checkout/sessions")

    def sessions(self) -> list[Any]:
        return list(self.sdk.v1.checkout.sessions.list(options=self.options).data)

    def events(self, type: str | None = None) -> list[dict[str, Any]]:
        return self.server.events(type, account=self.id)

    def completion(self, session_id: str) -> dict[str, Any]:
        found = [
            e
            for e in self.events("checkout.session.completed")
            if e["data"]["object"]["id"] == session_id
        ]
        assert len(found) == 1, found
        return found[0]


# ---------------------------------------------------------------------------------------------
# the rebill side
# ---------------------------------------------------------------------------------------------


@dataclass
class Receipt:
    number: str
    code: str
    amount: str
    tax: str
    total: str


class Rebill:
    def __init__(self, db: str, folder: Path, server: StripeTestServer) -> None:
        self.db, self.folder, self.server = db, folder, server
        self.runner = CliRunner()
        self._api: TestClient | None = None
        self.baseline: set[str] = set()

    # -- CLI --------------------------------------------------------------------------------
    def run(self, *args: str, code: int = 0) -> Result:
        result = self.runner.invoke(app, [*args, "--db", self.db], catch_exceptions=False)
        assert result.exit_code == code, (
            f"rebill {' '.join(args)} exited {result.exit_code} (expected {code})\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}"
        )
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def apply(self, document: dict[str, Any]) -> None:
        path = self.folder / "catalog.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        self.json("apply", str(path))

    def link(self, agency: str, account: str) -> dict[str, Any]:
        document: dict[str, Any] = self.json(
            "gateway", "link", "--agency", agency, "--provider", "stripe", "--account", account
        )
        return document

    def status(self, agency: str = "acme") -> dict[str, Any]:
        document: dict[str, Any] = self.json("gateway", "status", "--agency", agency)
        return document

    def checkout_args(self, agency: str, action: str) -> list[str]:
        return ["checkout", "create", "--agency", agency, "--sub-account", SUB, "--action", action]

    def checkout(self, action: str, *extra: str, agency: str = "acme") -> dict[str, Any]:
        document: dict[str, Any] = self.json(*self.checkout_args(agency, action), *extra)
        return document

    def checkout_refused(
        self, action: str, *extra: str, agency: str = "acme", code: int = 3
    ) -> Result:
        return self.run(*self.checkout_args(agency, action), *extra, "--json", code=code)

    # -- webhooks ---------------------------------------------------------------------------
    @property
    def api(self) -> TestClient:
        if self._api is None:
            self._api = TestClient(create_app(build(Settings.from_env(self.db))))
        return self._api

    def post_webhook(self, body: bytes, signature: str | None) -> Any:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["Stripe-Signature"] = signature
        return self.api.post("/webhooks/stripe", content=body, headers=headers)

    def deliver(self, event: dict[str, Any]) -> str:
        body = json.dumps(event, indent=2).encode()
        answer = self.post_webhook(body, self.server.sign(body))
        assert answer.status_code == 200, answer.text
        assert answer.json()["received"] is True
        outcome: str = answer.json()["outcome"]
        return outcome

    # -- reading the books ------------------------------------------------------------------
    def receipts(self, agency: str = "acme") -> list[Receipt]:
        documents = self.json("invoices", "list", "--agency", agency)["data"]
        found = []
        for document in documents:
            if document["kind"] != "receipt" or document["sub_account"] != SUB:
                continue
            if document["number"] in self.baseline:
                continue
            assert document["status"] == "paid"
            assert len(document["lines"]) == 1, document
            line = document["lines"][0]
            found.append(
                Receipt(
                    document["number"],
                    line["code"],
                    line["amount"],
                    line["tax"],
                    document["total"],
                )
            )
        return found

    def wallet(self, agency: str = "acme") -> int:
        uow = build(Settings.from_env(self.db)).uow()
        with uow:
            return uow.for_agency(agency).wallets.balances([SUB]).get(SUB, 0)

    def plans(self, agency: str = "acme") -> list[tuple[str, str]]:
        uow = build(Settings.from_env(self.db)).uow()
        with uow:
            return [(c.change, c.plan.id) for c in uow.for_agency(agency).plans.history_of(SUB)]

    def numbers(self, agency: str = "acme") -> list[tuple[str, str]]:
        uow = build(Settings.from_env(self.db)).uow()
        with uow:
            return sorted((n.e164, n.number_type) for n in uow.for_agency(agency).numbers.of(SUB))

    def close(self) -> None:
        if self._api is not None:
            self._api.close()


@pytest.fixture
def stripe_env(monkeypatch: pytest.MonkeyPatch, server: StripeTestServer) -> None:
    monkeypatch.setenv("REBILL_STRIPE_SECRET_KEY", KEY)
    monkeypatch.setenv("REBILL_STRIPE_API_BASE", server.url)
    monkeypatch.setenv("REBILL_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("REBILL_PUBLIC_URL", "http://rebill.test")


@pytest.fixture
def rebill(
    db_url: str, tmp_path: Path, server: StripeTestServer, stripe_env: None
) -> Iterator[Rebill]:
    world = Rebill(db_url, tmp_path, server)
    world.apply(catalog())
    # The catalog's own receipts (November's plan fees) are not this file's business.
    world.baseline = {
        i["number"] for i in world.json("invoices", "list")["data"] if i["kind"] == "receipt"
    }
    yield world
    world.close()


@pytest.fixture
def agency(sdk: Any, server: StripeTestServer) -> Agency:
    """A fresh, onboarded connected account with Stripe Tax not set up yet."""
    account = Agency(sdk, server)
    account.onboard()
    return account


@pytest.fixture
def ready(rebill: Rebill, agency: Agency) -> Agency:
    """`acme` linked to an account whose Stripe Tax is active with one DE registration."""
    agency.ready()
    rebill.link("acme", agency.id)
    return agency


# ---------------------------------------------------------------------------------------------
# linking and the tax readiness checklist
# ---------------------------------------------------------------------------------------------


def test_readiness_checklist_goes_from_pending_to_active_field_by_field(
    rebill: Rebill, agency: Agency
) -> None:
    # Before linking: the only missing item is the account itself.
    unlinked = rebill.status()
    assert (unlinked["provider"], unlinked["account"], unlinked["charges_enabled"]) == (
        None,
        None,
        False,
    )
    assert unlinked["tax"]["mode"] == "stripe"
    assert unlinked["tax"]["status"] == "pending"
    assert unlinked["tax"]["ready"] is False
    assert unlinked["tax"]["missing_fields"] == ["stripe_account"]

    linked = rebill.link("acme", agency.id)
    assert (linked["provider"], linked["account"], linked["charges_enabled"]) == (
        "stripe",
        agency.id,
        True,
    )
    assert set(linked) == {
        "provider",
        "account",
        "charges_enabled",
        "details_submitted",
        "application_fee_percent",
        "tax",
    }
    assert linked["application_fee_percent"] == "0"
    assert set(linked["tax"]) == {
        "mode",
        "status",
        "ready",
        "missing_fields",
        "registrations",
        "fixes",
        "warnings",
    }

    def checklist() -> tuple[str, bool, list[str], int, list[str], list[str]]:
        tax = rebill.status()["tax"]
        assert tax["mode"] == "stripe"
        return (
            tax["status"],
            tax["ready"],
            tax["missing_fields"],
            tax["registrations"],
            tax["fixes"],
            tax["warnings"],
        )

    all_fixes = [FIX_HEAD_OFFICE, FIX_TAX_CODE, FIX_BEHAVIOR, FIX_REGISTRATION]
    assert checklist() == ("pending", False, ALL_MISSING, 0, all_fixes, [ZERO_TAX_WARNING])

    agency.head_office()
    assert checklist() == (
        "pending",
        False,
        ["defaults.tax_code", "defaults.tax_behavior"],
        0,
        # The missing items' fixes first, then the rest of Stripe's four steps.
        [FIX_TAX_CODE, FIX_BEHAVIOR, FIX_HEAD_OFFICE, FIX_REGISTRATION],
        [ZERO_TAX_WARNING],
    )

    agency.tax_code()
    assert checklist() == (
        "pending",
        False,
        ["defaults.tax_behavior"],
        0,
        [FIX_BEHAVIOR, FIX_HEAD_OFFICE, FIX_TAX_CODE, FIX_REGISTRATION],
        [ZERO_TAX_WARNING],
    )

    agency.tax_behavior("inferred_by_currency")
    # Active (checkout allowed), but with no registration tax calculates as 0.00.
    assert checklist() == ("active", True, [], 0, [FIX_REGISTRATION], [ZERO_TAX_WARNING])

    agency.register("DE")
    assert checklist() == ("active", True, [], 1, [], [])

    # The human-readable form says the same.
    text = rebill.run("gateway", "status", "--agency", "acme").stdout
    assert agency.id in text and "active" in text and "registrations: 1" in text


def test_tax_modes_other_than_stripe_are_always_ready(rebill: Rebill) -> None:
    for agency_id, mode in (("beta", "manual"), ("gamma", "none")):
        tax = rebill.status(agency_id)["tax"]
        assert tax == {
            "mode": mode,
            "status": "active",
            "ready": True,
            "missing_fields": [],
            "registrations": 0,
            "fixes": [],
            "warnings": [],
        }


def test_link_refuses_a_bad_account_and_one_linked_elsewhere(
    rebill: Rebill, agency: Agency
) -> None:
    bad = rebill.run(
        "gateway",
        "link",
        "--agency",
        "acme",
        "--provider",
        "stripe",
        "--account",
        "nope",
        code=1,
    )
    assert "--account" in bad.stderr
    rebill.link("acme", agency.id)
    taken = rebill.run(
        "gateway",
        "link",
        "--agency",
        "gamma",
        "--provider",
        "stripe",
        "--account",
        agency.id,
        code=5,
    )
    assert "acme" in taken.stderr
    assert rebill.status("gamma")["provider"] is None
    unknown = rebill.run("gateway", "link", "--agency", "acme", "--provider", "paypal", code=1)
    assert "--provider" in unknown.stderr


# ---------------------------------------------------------------------------------------------
# tax_not_configured before any Stripe call that would fail
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "extra"),
    [
        ("credits", ("--amount", "20.00")),
        ("upgrade", ("--plan", "growth")),
        ("number", ("--type", "local")),
    ],
)
def test_tax_not_ready_is_refused_before_stripe_is_asked_for_a_session(
    rebill: Rebill, agency: Agency, action: str, extra: tuple[str, ...]
) -> None:
    rebill.link("acme", agency.id)
    agency.head_office()  # one of the three done, two still missing
    refused = rebill.checkout_refused(action, *extra)
    assert refused.stdout == ""
    assert "tax_not_configured" in refused.stderr
    for missing in ("defaults.tax_code", "defaults.tax_behavior"):
        assert missing in refused.stderr
    assert "head_office" not in refused.stderr.split("missing:")[1].splitlines()[0]
    # ... with the fixes, so the agency knows what to do.
    stderr = " ".join(refused.stderr.split())
    for fix in (FIX_TAX_CODE, FIX_BEHAVIOR):
        assert " ".join(fix.split()) in stderr
    # Stripe was only read (tax settings, registrations), never asked for a session that would
    # have failed with stripe_tax_inactive.
    assert agency.checkout_posts() == []
    assert {(r["method"], r["path"]) for r in agency.requests()} <= {
        ("GET", "/v1/tax/settings"),
        ("GET", "/v1/tax/registrations"),
        ("POST", "/v1/tax/settings"),
        ("GET", f"/v1/accounts/{agency.id}"),
    }
    assert agency.sessions() == []
    assert rebill.receipts() == []


def test_nothing_set_at_all_names_all_three_fields(rebill: Rebill, agency: Agency) -> None:
    rebill.link("acme", agency.id)
    refused = rebill.checkout_refused("credits", "--amount", "20.00")
    assert refused.exit_code == 3
    for missing in ALL_MISSING:
        assert missing in refused.stderr
    assert agency.checkout_posts() == []


def test_stripe_agency_without_a_linked_account_cannot_open_a_checkout(
    rebill: Rebill, server: StripeTestServer
) -> None:
    before = len(server.requests)
    refused = rebill.checkout_refused("credits", "--amount", "20.00", code=5)
    assert "no Stripe account linked" in refused.stderr
    assert len(server.requests) == before


# ---------------------------------------------------------------------------------------------
# each client action end to end
# ---------------------------------------------------------------------------------------------


def deliver_out_of_order_and_replayed(
    rebill: Rebill, agency: Agency, completed: dict[str, Any]
) -> list[str]:
    """The completion first, then older account/tax events, then the completion 3x more (also
    once re-sent by Stripe with the same id)."""
    outcomes = [rebill.deliver(completed)]
    older = agency.events("account.updated") + agency.events("tax.settings.updated")
    assert older, "the account's onboarding and tax settings sent events"
    outcomes += [rebill.deliver(event) for event in older]
    outcomes += [rebill.deliver(completed) for _ in range(3)]
    return outcomes


def test_credit_purchase_end_to_end(rebill: Rebill, ready: Agency) -> None:
    assert rebill.wallet() == 0
    session = rebill.checkout("credits", "--amount", "20.00")
    assert (session["amount"], session["tax"], session["currency"], session["action"]) == (
        "20.00",
        "3.80",
        "USD",
        "credits",
    )
    assert session["id"].startswith("cs_test_")
    assert session["url"].startswith(ready.server.url)
    # On Stripe: one session on the agency's own account, automatic tax on.
    [created] = ready.sessions()
    assert created.id == session["id"]
    assert (created.amount_subtotal, created.total_details.amount_tax, created.amount_total) == (
        2000,
        380,
        2380,
    )
    assert created.automatic_tax.enabled is True
    assert created.metadata["rebill_sub_account"] == SUB

    # Nothing happens before the customer pays.
    assert rebill.wallet() == 0 and rebill.receipts() == []

    paid = ready.server.complete_checkout(session["id"], account=ready.id, country="DE")
    assert (paid["status"], paid["payment_status"], paid["amount_total"]) == (
        "complete",
        "paid",
        2380,
    )
    outcomes = deliver_out_of_order_and_replayed(rebill, ready, ready.completion(session["id"]))
    assert outcomes[0] == "credits applied"
    assert outcomes[-3:] == ["replay ignored"] * 3

    [receipt] = rebill.receipts()
    assert (receipt.code, receipt.amount, receipt.tax, receipt.total) == (
        "credits.purchase",
        "20.00",
        "3.80",
        "23.80",
    )
    assert rebill.wallet() == 20_000_000  # the net amount, once (BILLING_MODEL §7)

    # A re-send by the test server (same event id) changes nothing either.
    assert rebill.deliver(ready.completion(session["id"])) == "replay ignored"
    assert rebill.wallet() == 20_000_000 and len(rebill.receipts()) == 1


def test_plan_upgrade_end_to_end_is_prorated_in_the_agency_timezone(
    rebill: Rebill, ready: Agency
) -> None:
    assert rebill.plans() == [("subscribe", "starter")]
    session = rebill.checkout("upgrade", "--plan", "growth")
    assert session["amount"] == str(UPGRADE_AMOUNT) == "53.90"
    assert session["tax"] == str(vat(UPGRADE_AMOUNT)) == "10.24"
    [created] = ready.sessions()
    assert (created.amount_subtotal, created.total_details.amount_tax) == (5390, 1024)
    # Not applied before payment.
    assert rebill.plans() == [("subscribe", "starter")]

    ready.server.complete_checkout(session["id"], account=ready.id, country="DE")
    outcomes = deliver_out_of_order_and_replayed(rebill, ready, ready.completion(session["id"]))
    assert outcomes[0] == "upgrade applied"
    assert outcomes[-3:] == ["replay ignored"] * 3

    assert rebill.plans() == [("subscribe", "starter"), ("upgrade", "growth")]
    [receipt] = rebill.receipts()
    assert (receipt.code, receipt.amount, receipt.tax, receipt.total) == (
        "plan.proration",
        "53.90",
        "10.24",
        "64.14",
    )
    # Asking again: growth is no longer an upgrade.
    again = rebill.checkout_refused("upgrade", "--plan", "growth", code=5)
    assert "not an upgrade" in again.stderr
    assert len(ready.sessions()) == 1


def test_number_rental_end_to_end_charges_the_prorated_first_month(
    rebill: Rebill, ready: Agency
) -> None:
    assert rebill.numbers() == [("+15551230001", "local")]
    session = rebill.checkout("number", "--type", "local")
    assert session["amount"] == str(NUMBER_AMOUNT) == "1.62"
    assert session["tax"] == str(vat(NUMBER_AMOUNT)) == "0.31"

    ready.server.complete_checkout(session["id"], account=ready.id, country="DE")
    outcomes = deliver_out_of_order_and_replayed(rebill, ready, ready.completion(session["id"]))
    assert outcomes[0] == "number applied"
    assert outcomes[-3:] == ["replay ignored"] * 3

    numbers = rebill.numbers()
    assert len(numbers) == 2
    assert [t for _, t in numbers] == ["local", "local"]
    [receipt] = rebill.receipts()
    assert (receipt.code, receipt.amount, receipt.tax, receipt.total) == (
        "number.rental.local",
        "1.62",
        "0.31",
        "1.93",
    )


def test_without_a_registration_tax_is_zero(rebill: Rebill, agency: Agency) -> None:
    agency.head_office()
    agency.tax_code()
    agency.tax_behavior()
    rebill.link("acme", agency.id)
    assert rebill.status()["tax"]["warnings"] == [ZERO_TAX_WARNING]
    session = rebill.checkout("credits", "--amount", "20.00")
    assert (session["amount"], session["tax"]) == ("20.00", "0.00")
    agency.server.complete_checkout(session["id"], account=agency.id, country="DE")
    assert rebill.deliver(agency.completion(session["id"])) == "credits applied"
    [receipt] = rebill.receipts()
    assert (receipt.amount, receipt.tax, receipt.total) == ("20.00", "0.00", "20.00")
    assert rebill.wallet() == 20_000_000


def test_receipt_tax_is_what_stripe_charged_at_completion(rebill: Rebill, ready: Agency) -> None:
    session = rebill.checkout("credits", "--amount", "20.00")
    assert session["tax"] == "3.80"  # estimated at the default location, DE
    # The customer pays from a country the agency is not registered in: Stripe charges no tax.
    paid = ready.server.complete_checkout(session["id"], account=ready.id, country="FR")
    assert (paid["amount_total"], paid["total_details"]["amount_tax"]) == (2000, 0)
    assert rebill.deliver(ready.completion(session["id"])) == "credits applied"
    [receipt] = rebill.receipts()
    assert (receipt.amount, receipt.tax, receipt.total) == ("20.00", "0.00", "20.00")


def test_inclusive_stripe_tax_receipt_matches_what_was_charged(
    rebill: Rebill, agency: Agency
) -> None:
    agency.head_office()
    agency.tax_code()
    agency.tax_behavior("inclusive")
    agency.register("DE")
    rebill.link("acme", agency.id)
    session = rebill.checkout("credits", "--amount", "20.00")
    paid = agency.server.complete_checkout(session["id"], account=agency.id, country="DE")
    # 20.00 including 19 % VAT: 20.00 - 20.00 / 1.19 = 3.19; the customer pays 20.00.
    assert (paid["amount_total"], paid["total_details"]["amount_tax"]) == (2000, 319)
    assert rebill.deliver(agency.completion(session["id"])) == "credits applied"
    [receipt] = rebill.receipts()
    assert (receipt.amount, receipt.tax, receipt.total) == ("20.00", "3.19", "20.00")
    assert rebill.wallet() == 16_810_000  # the net amount before tax


def test_an_included_number_is_not_sold_through_checkout(rebill: Rebill, ready: Agency) -> None:
    """A number the plan includes needs no payment: no paid checkout without a receipt."""
    catalog_with_free_slot = catalog()
    acme = catalog_with_free_slot["agencies"][0]
    acme["sub_accounts"][0]["numbers"] = []  # the plan's one included number is free
    rebill.apply(catalog_with_free_slot)
    before = rebill.numbers()
    sessions_before = len(ready.checkout_posts())
    refused = rebill.checkout_refused("number", "--type", "local", code=5)
    assert "includes another number" in refused.stderr
    assert len(ready.checkout_posts()) == sessions_before  # Stripe was never asked
    assert rebill.numbers() == before


def test_completion_of_another_agencys_session_is_not_applied(
    rebill: Rebill, ready: Agency, sdk: Any, server: StripeTestServer
) -> None:
    """Routing is by the event's `account`: an event for an unlinked account changes nothing."""
    session = rebill.checkout("credits", "--amount", "20.00")
    server.complete_checkout(session["id"], account=ready.id, country="DE")
    event = json.loads(json.dumps(ready.completion(session["id"])))
    stranger = Agency(sdk, server)
    event["id"] = event["id"] + "x"
    event["account"] = stranger.id
    assert rebill.deliver(event) == "ignored"
    assert rebill.wallet() == 0 and rebill.receipts() == []


# ---------------------------------------------------------------------------------------------
# signatures
# ---------------------------------------------------------------------------------------------


def test_tampered_expired_or_missing_signatures_are_refused_and_change_nothing(
    rebill: Rebill, ready: Agency, server: StripeTestServer
) -> None:
    session = rebill.checkout("credits", "--amount", "20.00")
    server.complete_checkout(session["id"], account=ready.id, country="DE")
    event = ready.completion(session["id"])
    body = json.dumps(event, indent=2).encode()
    signature = server.sign(body)

    tampered = body.replace(b'"amount_total": 2380', b'"amount_total": 1')
    assert tampered != body
    expired_at = int(time.time()) - 3600
    attempts = [
        ("tampered body", tampered, signature),
        ("wrong secret", body, server.sign(body, secret="whsec_someone_else")),
        ("expired", body, server.sign(body, timestamp=expired_at)),
        ("bad header", body, "t=1,v1=deadbeef"),
        ("no header", body, None),
    ]
    for name, payload, header in attempts:
        answer = rebill.post_webhook(payload, header)
        assert answer.status_code == 400, (name, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json"), name
        assert rebill.wallet() == 0, name
        assert rebill.receipts() == [], name

    # The refusals did not burn the event id: the genuine delivery still applies, once.
    assert rebill.deliver(event) == "credits applied"
    assert rebill.deliver(event) == "replay ignored"
    assert rebill.wallet() == 20_000_000
    assert len(rebill.receipts()) == 1


# ---------------------------------------------------------------------------------------------
# Stripe failing
# ---------------------------------------------------------------------------------------------


def test_a_500_on_session_creation_is_retried_with_the_same_idempotency_key(
    rebill: Rebill, ready: Agency, server: StripeTestServer
) -> None:
    server.inject_failures(500, 1, path_prefix="/v1/checkout/sessions")
    session = rebill.checkout("credits", "--amount", "20.00")
    posts = ready.checkout_posts()
    assert [r["injected"] for r in posts] == [True, False]
    keys = {r["idempotency_key"] for r in posts}
    assert len(keys) == 1 and None not in keys
    assert [s.id for s in ready.sessions()] == [session["id"]]

    # Paid once, applied once.
    server.complete_checkout(session["id"], account=ready.id, country="DE")
    assert rebill.deliver(ready.completion(session["id"])) == "credits applied"
    assert rebill.wallet() == 20_000_000 and len(rebill.receipts()) == 1


def test_persistent_stripe_failure_is_a_clear_error_and_records_nothing(
    rebill: Rebill, ready: Agency, server: StripeTestServer
) -> None:
    server.inject_failures(500, 3, path_prefix="/v1/checkout/sessions")
    try:
        failed = rebill.checkout_refused("credits", "--amount", "20.00", code=1)
    finally:
        server.clear_failures()
    assert "gateway_error" in failed.stderr
    assert ready.sessions() == []
    assert all(r["injected"] for r in ready.checkout_posts())
    assert len({r["idempotency_key"] for r in ready.checkout_posts()}) == 1


# ---------------------------------------------------------------------------------------------
# the manual gateway
# ---------------------------------------------------------------------------------------------


def test_manual_gateway_links_and_refuses_checkout_clearly(
    rebill: Rebill, server: StripeTestServer
) -> None:
    before = len(server.requests)
    linked = rebill.json("gateway", "link", "--agency", "beta", "--provider", "manual")
    assert (linked["provider"], linked["account"], linked["charges_enabled"]) == (
        "manual",
        None,
        True,
    )
    assert linked["tax"]["mode"] == "manual" and linked["tax"]["ready"] is True
    assert rebill.status("beta") == linked

    refused = rebill.checkout_refused("credits", "--amount", "20.00", agency="beta", code=5)
    assert refused.stdout == ""
    message = " ".join(refused.stderr.split())
    assert "no Stripe account linked" in message
    assert "manual gateway" in message and "rebill credits add" in message
    assert len(server.requests) == before  # Stripe was never called

    # The manual way: a credit purchase recorded with its payment reference, once.
    for _ in range(2):
        rebill.json(
            "credits",
            "add",
            "--agency",
            "beta",
            "--sub-account",
            SUB,
            "--amount",
            "20.00",
            "--reference",
            "bank-transfer-0042",
        )
    [receipt] = rebill.receipts("beta")
    assert (receipt.amount, receipt.tax, receipt.total) == ("20.00", "4.00", "24.00")
    assert rebill.wallet("beta") == 20_000_000


def test_switching_from_stripe_to_manual(rebill: Rebill, ready: Agency) -> None:
    rebill.json("gateway", "link", "--agency", "acme", "--provider", "manual")
    status = rebill.status()
    assert (status["provider"], status["account"]) == ("manual", None)
    refused = rebill.checkout_refused("credits", "--amount", "20.00", code=5)
    assert "manual gateway" in " ".join(refused.stderr.split())
    assert ready.checkout_posts() == []
