"""Close on a generated month, on SQLite and PostgreSQL: ledger balanced, wallets not negative,
profit = Σ retail − Σ wholesale, idempotent re-close and import, and crash safety (a failure
injected at every write of the close, then a rerun, gives the same invoices and numbers)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from rebill.adapters.db.repositories.accounts import SqlAgencyRepository
from rebill.adapters.db.repositories.invoices import SqlInvoiceRepository
from rebill.adapters.db.repositories.ledger import SqlLedgerRepository
from rebill.adapters.db.repositories.periods import SqlPeriodRepository
from rebill.adapters.db.repositories.usage import SqlUsageRepository
from rebill.bootstrap import App, build
from rebill.config import Settings
from rebill.demo.data import demo_calls, demo_catalog
from rebill.domain.period import Period
from rebill.services.catalog.apply import apply_catalog
from rebill.services.invoicing.close import close_period
from rebill.services.usage.import_file import import_usage
from rebill.services.wallets.credits import record_credit_purchase

NOW = datetime.fromisoformat("2026-12-15T12:00:00+00:00")
PERIOD = Period(2026, 10)
SUBSAMPLE = 9  # keep every 9th demo call: enough calls for overage, fast on both backends


def second_agency(document: dict[str, Any]) -> dict[str, Any]:
    agency = dict(document["agencies"][0])
    agency.update(
        id="beta",
        name="Beta Voice",
        timezone="Europe/Berlin",
        invoice_prefix="BETA",
        tax={"mode": "manual", "rate": "20", "behavior": "exclusive", "label": "VAT"},
    )
    agency["sub_accounts"] = [
        {**s, "numbers": [{**n, "e164": n["e164"].replace("+1", "+4", 1)} for n in s["numbers"]]}
        for s in agency["sub_accounts"][:4]
    ]
    document["agencies"].append(agency)
    return document


def calls_for(agency_id: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for index, call in enumerate(demo_calls(PERIOD)):
        if index % SUBSAMPLE == 0:
            yield index, {**call, "call_id": f"{agency_id}-{call['call_id']}"}
    # Long calls late in the month push several sub-accounts past their included minutes.
    for n, sub in enumerate(("bright-dental", "summit-hvac", "harbor-realty", "pine-legal")):
        yield (
            -1,
            {
                "call_id": f"{agency_id}-long-{n}",
                "sub_account": sub,
                "started_at": "2026-10-30T15:00:00-04:00",
                "duration_seconds": 60_000 + n,
                "direction": "outbound",
            },
        )


def seeded(url: str) -> App:
    app = build(Settings(database_url=url, now=NOW))
    apply_catalog(app.uow, second_agency(demo_catalog(PERIOD)), "catalog", NOW)
    record_credit_purchase(app.uow, "acme", "summit-hvac", "30.00", NOW, "r1")
    record_credit_purchase(app.uow, "beta", "bright-dental", "7.50", NOW, "r2")
    import_usage(app.uow, "acme", calls_for("acme"), "calls", NOW)
    beta_subs = {
        s["id"] for s in second_agency(demo_catalog(PERIOD))["agencies"][1]["sub_accounts"]
    }
    import_usage(
        app.uow,
        "beta",
        ((i, c) for i, c in calls_for("beta") if c["sub_account"] in beta_subs),
        "calls",
        NOW,
    )
    return app


def check_invariants(app: App, documents: list[dict[str, Any]]) -> None:
    with app.uow() as uow:
        assert uow.platform.ledger.unbalanced_entries() == []
        for agency_id in ("acme", "beta"):
            tenant = uow.for_agency(agency_id)
            ledger = tenant.ledger.balances("liability:wallet:")
            cached = tenant.wallets.balances()
            assert all(balance >= 0 for balance in cached.values())
            for sub, balance in cached.items():  # the cache agrees with the postings
                assert -ledger.get(f"liability:wallet:{sub}", 0) == balance
            assert len(ledger) == len(cached)
    for document in documents:
        for invoice in [*document["retail_invoices"], document["wholesale_invoice"]]:
            lines = sum(Decimal(line["amount"]) for line in invoice["lines"])
            taxes = sum(Decimal(line["tax"]) for line in invoice["lines"])
            assert Decimal(invoice["subtotal"]) == lines
            assert Decimal(invoice["tax"]) == taxes
            assert Decimal(invoice["total"]) == lines + taxes  # both agencies are exclusive
        profit = document["profit"]
        revenue = sum(Decimal(r["revenue"]) for r in profit["by_sub_account"])
        assert Decimal(profit["revenue"]) == revenue
        assert Decimal(profit["cost"]) == Decimal(document["wholesale_invoice"]["subtotal"])
        assert Decimal(profit["profit"]) == Decimal(profit["revenue"]) - Decimal(profit["cost"])


def test_close_keeps_the_invariants_and_is_idempotent(db_url: str) -> None:
    app = seeded(db_url)
    first = close_period(app.uow, PERIOD, None, NOW)
    check_invariants(app, first)
    assert [d["agency"] for d in first] == ["acme", "beta"]
    assert first[0]["wholesale_invoice"]["number"] == "PLAT-000001"
    assert first[1]["wholesale_invoice"]["number"] == "PLAT-000002"
    numbers = [i["number"] for i in first[0]["retail_invoices"]]
    assert numbers == [f"ACME-{n:06d}" for n in range(1, 13)]
    assert any(
        line["code"].startswith("voice.overage")
        for inv in first[0]["retail_invoices"]
        for line in inv["lines"]
    )
    # Closing again prints the same document; importing the same calls again adds nothing.
    assert close_period(app.uow, PERIOD, None, NOW) == first
    report = import_usage(app.uow, "acme", calls_for("acme"), "calls", NOW)
    assert report.imported == 0
    assert report.duplicates > 1000
    assert close_period(app.uow, PERIOD, None, NOW) == first
    app.dispose()


WRITES: tuple[tuple[type, str], ...] = (
    (SqlAgencyRepository, "lock"),
    (SqlUsageRepository, "claim_late_calls"),
    (SqlInvoiceRepository, "reserve_numbers"),
    (SqlInvoiceRepository, "save"),
    (SqlLedgerRepository, "post_many"),
    (SqlPeriodRepository, "save_usage"),
    (SqlPeriodRepository, "save_close"),
)


class Injected(RuntimeError):
    pass


def inject_failure_at(monkeypatch: pytest.MonkeyPatch, target: int) -> Callable[[], int]:
    """Make the `target`-th write of the repositories raise; returns a counter of writes seen."""
    seen = [0]
    for repository, name in WRITES:
        original = getattr(repository, name)

        def wrapper(self: Any, *args: Any, __original: Any = original, **kw: Any) -> Any:
            seen[0] += 1
            if seen[0] == target:
                raise Injected(f"failure injected at write {target}")
            return __original(self, *args, **kw)

        monkeypatch.setattr(repository, name, wrapper)
    return lambda: seen[0]


def test_close_interrupted_at_every_write_resumes_identically(
    sqlite_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference_app = seeded(f"sqlite:///{tmp_path / 'reference.db'}")
    reference = close_period(reference_app.uow, PERIOD, None, NOW)
    reference_app.dispose()
    app = seeded(sqlite_url)
    target = 1
    while True:
        with monkeypatch.context() as patch:
            inject_failure_at(patch, target)
            try:
                result = close_period(app.uow, PERIOD, None, NOW)
            except Injected:
                target += 1
                continue
        break
    # The failure was injected at every write of the first agency's close (8: the lock, the
    # late calls' claim, two number reservations, the documents, the postings, the usage and
    # the close record), then at the second's first write.
    assert target == 8 + 2
    assert result == reference
    assert close_period(app.uow, PERIOD, None, NOW) == reference
    check_invariants(app, result)
    app.dispose()


def test_manual_gateway_marks_invoices_paid_once(sqlite_url: str) -> None:
    """The manual gateway: an open invoice is marked paid with a reference, once; the ledger
    moves its total out of the receivable (retail) or the payable (wholesale)."""
    from rebill.domain.errors import ValidationError
    from rebill.domain.ledger import Accounts
    from rebill.services.invoicing.manual import pay_invoice as mark_paid

    app = seeded(sqlite_url)
    (acme, _beta) = close_period(app.uow, PERIOD, None, NOW)
    retail = acme["retail_invoices"][0]
    wholesale = acme["wholesale_invoice"]["number"]
    sub = retail["sub_account"]

    def balance(account: str) -> int:
        with app.uow() as uow:
            return uow.for_agency("acme").ledger.balance_micros(account)

    assert balance(Accounts.receivable(sub)) == int(Decimal(retail["total"]) * 1_000_000)
    assert mark_paid(app.uow, "acme", retail["number"], "bank ref 42", NOW) == "open"
    assert mark_paid(app.uow, "acme", retail["number"], "bank ref 42", NOW) == "paid"
    assert balance(Accounts.receivable(sub)) == 0
    payable = balance(Accounts.WHOLESALE_PAYABLE)
    assert payable == -int(Decimal(acme["wholesale_invoice"]["total"]) * 1_000_000)
    mark_paid(app.uow, "acme", wholesale, "wire 7", NOW)
    assert balance(Accounts.WHOLESALE_PAYABLE) == 0
    assert balance(Accounts.PLATFORM_RECEIVABLE) == 0
    with pytest.raises(ValidationError):
        mark_paid(app.uow, "acme", acme["retail_invoices"][1]["number"], " ", NOW)
    with app.uow() as uow:
        receipts = [i for i in uow.for_agency("acme").invoices.find() if i.kind == "receipt"]
    assert mark_paid(app.uow, "acme", receipts[0].number, "x", NOW) == "paid"  # already
    with app.uow() as uow:
        assert uow.platform.ledger.unbalanced_entries() == []
    reprinted = close_period(app.uow, PERIOD, ["acme"], NOW)[0]["retail_invoices"]
    assert reprinted[0]["status"] == "paid"
    app.dispose()
