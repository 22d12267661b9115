"""Concurrent wallet debits on PostgreSQL (issue 3): 4 processes x 2,000 debits against 20 hot
wallets, 10 % of the requests replaying an earlier idempotency key. Afterwards no wallet is
negative, every key was taken exactly once (replays are no-ops that report the first result),
and for each wallet: initial - final == sum of what was taken (each key once) == what the
ledger posted on the wallet account == the cached `wallets` balance.

The module also keeps a naive read-then-write debit (read the balance without a lock, compute,
write the absolute value back) and runs it through the SAME checker, which must catch its lost
updates: that test is a strict xfail that only accepts the checker's `InvariantViolation`.

`run_contention` is reused by `bench/authorize.py` (debits per second on PostgreSQL)."""

from __future__ import annotations

import multiprocessing
import os
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from rebill.adapters.db.engine import normalize_url
from rebill.bootstrap import build
from rebill.config import Settings
from rebill.domain.ledger import Accounts, JournalEntry
from rebill.services.catalog.apply import apply_catalog
from rebill.services.wallets.credits import record_credit_purchase
from rebill.services.wallets.debit import Debit, debit_wallet

POSTGRES_ENV = "REBILL_TEST_POSTGRES_URL"
NOW = datetime(2026, 10, 15, 12, 0, tzinfo=UTC)
AGENCY = "hot"
PROCESSES = 4
DEBITS_PER_PROCESS = 2_000
WALLETS = 20
REPLAY_SHARE = 0.10
# Each wallet gets 12.00 of credits; the ~360 distinct debits per wallet ask for 0.01..0.10
# each (about 20.00 in all), so every wallet runs dry a little past half-way through.
FUNDING = "12.00"
AMOUNT_MICROS = (10_000, 100_000)

pytestmark = pytest.mark.postgres


class InvariantViolation(AssertionError):
    """The checker found a broken invariant (listed in the message)."""


# -- the workload -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    sub_account_id: str
    key: str  # the caller's idempotency key; the same key always carries the same amount
    amount_micros: int


@dataclass(frozen=True)
class Outcome:
    sub_account_id: str
    key: str
    amount_micros: int
    taken_micros: int
    balance_micros: int
    replayed: bool


def plan_requests(
    processes: int, per_process: int, wallets: int, replay_share: float, seed: int = 3
) -> list[list[Request]]:
    """Each process's request list. A replay repeats a request made earlier (at a lower
    index) by the same process, or by another process (then possibly concurrently)."""
    rng = random.Random(seed)
    subs = [f"w{n:02d}" for n in range(wallets)]
    plans: list[list[Request]] = [[] for _ in range(processes)]
    for index in range(per_process):
        for p in range(processes):
            if index > 10 and rng.random() < replay_share:
                q = p if rng.random() < 0.5 else rng.randrange(processes)
                plans[p].append(plans[q][rng.randrange(index - 1)])
                continue
            plans[p].append(Request(rng.choice(subs), f"p{p}-{index}", rng.randint(*AMOUNT_MICROS)))
    return plans


def catalog(wallets: int) -> dict[str, Any]:
    increment = "60/6"
    voice = {"overage_per_minute": "0.10", "increment": increment}
    return {
        "platform": {
            "name": "Contention platform",
            "currency": "USD",
            "wholesale": {
                "voice": {
                    "outbound": {"per_minute": "0.01", "increment": "1/1"},
                    "inbound": {"per_minute": "0.01", "increment": "1/1"},
                }
            },
        },
        "agencies": [
            {
                "id": AGENCY,
                "name": "Hot wallets",
                "timezone": "UTC",
                "invoice_prefix": "HOT",
                "plans": [
                    {
                        "id": "prepaid",
                        "name": "Prepaid",
                        "monthly_fee": "0",
                        "overage": "prepaid",
                        "voice": {"outbound": voice, "inbound": voice},
                    }
                ],
                "sub_accounts": [
                    {
                        "id": f"w{n:02d}",
                        "name": f"Wallet {n}",
                        "plan": "prepaid",
                        "subscribed_at": "2026-09-01T00:00:00Z",
                    }
                    for n in range(wallets)
                ],
            }
        ],
    }


def seed_wallets(url: str, wallets: int = WALLETS, funding: str = FUNDING) -> dict[str, int]:
    """Create the agency and fund every wallet; returns the initial balances."""
    app = build(Settings(database_url=url, now=NOW))
    try:
        apply_catalog(app.uow, catalog(wallets), "contention", NOW)
        for n in range(wallets):
            record_credit_purchase(app.uow, AGENCY, f"w{n:02d}", funding, NOW, f"fund-{n}")
        with app.uow() as uow:
            return uow.for_agency(AGENCY).wallets.balances()
    finally:
        app.dispose()


# -- the debit under test, and the naive one ------------------------------------------------
DebitFn = Callable[[Any, str, str, int, str, datetime], Debit]


def naive_debit(
    uow_factory: Any,
    agency_id: str,
    sub_account_id: str,
    amount_micros: int,
    idempotency_key: str,
    now: datetime,
    pause_seconds: float = 0.002,
) -> Debit:
    """The bug the issue forbids: read the balance (no lock), decide, write it back."""
    key = f"debit:{sub_account_id}:{idempotency_key}"
    for _attempt in range(3):
        with uow_factory() as uow:
            ledger = uow.for_agency(agency_id).ledger
            session = uow.session
            balance = int(
                session.execute(
                    text(
                        "SELECT balance_micros FROM wallets"
                        " WHERE agency_id = :a AND sub_account_id = :s"
                    ),
                    {"a": agency_id, "s": sub_account_id},
                ).scalar_one()
            )
            taken = ledger.entry_amount(key, Accounts.wallet(sub_account_id))
            if taken is not None:
                return Debit(taken, balance, replayed=True)
            taken = min(amount_micros, balance)
            time.sleep(pause_seconds)  # anything between the read and the write
            session.execute(
                text(
                    "UPDATE wallets SET balance_micros = :b"
                    " WHERE agency_id = :a AND sub_account_id = :s"
                ),
                {"a": agency_id, "s": sub_account_id, "b": balance - taken},
            )
            try:
                ledger.post(
                    JournalEntry.of(
                        agency_id,
                        key,
                        "charge paid from credits",
                        now,
                        "USD",
                        [
                            (Accounts.wallet(sub_account_id), taken),
                            (Accounts.REVENUE_USAGE, -taken),
                        ],
                    )
                )
            except IntegrityError:  # the same key posted concurrently: ask again
                uow.rollback()
                continue
            uow.commit()
        return Debit(taken, balance - taken, replayed=False)
    raise RuntimeError(f"{key}: could not debit")


DEBITS: dict[str, DebitFn] = {"row_lock": debit_wallet, "naive": naive_debit}


def worker(
    url: str, variant: str, requests: list[Request], barrier: Any, queue: Any
) -> None:  # pragma: no cover - runs in a child process
    debit = DEBITS[variant]
    app = build(Settings(database_url=url, now=NOW), migrate_schema=False)
    outcomes: list[Outcome] = []
    try:
        barrier.wait()
        started = time.time()
        for r in requests:
            d = debit(app.uow, AGENCY, r.sub_account_id, r.amount_micros, r.key, NOW)
            outcomes.append(
                Outcome(
                    r.sub_account_id,
                    r.key,
                    r.amount_micros,
                    d.taken_micros,
                    d.balance_micros,
                    d.replayed,
                )
            )
        queue.put((started, time.time(), outcomes, None))
    except Exception as exc:  # report instead of hanging the parent
        queue.put((0.0, 0.0, outcomes, f"{type(exc).__name__}: {exc}"))
    finally:
        app.dispose()


# -- running and checking -------------------------------------------------------------------
@dataclass
class ContentionResult:
    variant: str
    initial: dict[str, int]
    final: dict[str, int]
    ledger: dict[str, int]  # wallet balance per sub-account as the ledger has it
    debit_postings: dict[str, int]  # sum of the `debit:` entries' postings per wallet (taken)
    debit_entries: int  # journal entries with a `debit:` key (a zero take posts an empty one)
    outcomes: list[Outcome]
    seconds: float
    errors: list[str] = field(default_factory=list)

    @property
    def debits(self) -> int:
        return len(self.outcomes)

    @property
    def debits_per_second(self) -> float:
        return self.debits / self.seconds if self.seconds else 0.0


def _collect(queue: Any, children: list[Any]) -> list[Any]:
    """One report per child; a child that died without reporting is an error, not a hang."""
    reports: list[Any] = []
    deadline = time.monotonic() + 900
    while len(reports) < len(children):
        try:
            reports.append(queue.get(timeout=1))
        except Exception:  # queue.Empty
            dead = [c for c in children if c.exitcode not in (None, 0)]
            if dead or time.monotonic() > deadline:
                for child in children:
                    child.kill()
                raise RuntimeError(
                    f"contention workers failed: exit codes {[c.exitcode for c in children]}"
                ) from None
    for child in children:
        child.join(timeout=60)
    return reports


def run_contention(
    url: str,
    variant: str = "row_lock",
    processes: int = PROCESSES,
    per_process: int = DEBITS_PER_PROCESS,
    wallets: int = WALLETS,
    replay_share: float = REPLAY_SHARE,
    funding: str = FUNDING,
) -> ContentionResult:
    """Seed `wallets` funded wallets in the (empty) store at `url`, run `processes` spawned
    processes of `per_process` debits each (`variant` = "row_lock" or "naive"), and read back
    the wallets and the ledger."""
    initial = seed_wallets(url, wallets, funding)
    plans = plan_requests(processes, per_process, wallets, replay_share)
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(processes), ctx.Queue()
    children = [
        ctx.Process(target=worker, args=(url, variant, plans[p], barrier, queue))
        for p in range(processes)
    ]
    for child in children:
        child.start()
    reports = _collect(queue, children)
    errors = [error for *_, error in reports if error]
    outcomes = [o for _, _, chunk, _ in reports for o in chunk]
    seconds = max(r[1] for r in reports) - min(r[0] for r in reports) if not errors else 0.0

    app = build(Settings(database_url=url, now=NOW), migrate_schema=False)
    try:
        with app.uow() as uow:
            tenant = uow.for_agency(AGENCY)
            final = tenant.wallets.balances()
            prefix = "liability:wallet:"
            ledger = {
                account.removeprefix(prefix): -total
                for account, total in tenant.ledger.balances(prefix).items()
            }
            rows = uow.session.execute(
                text(
                    "SELECT account, SUM(amount_micros) FROM postings"
                    " WHERE agency_id = :a AND idempotency_key LIKE 'debit:%'"
                    " AND account LIKE 'liability:wallet:%' GROUP BY account"
                ),
                {"a": AGENCY},
            ).all()
            debit_postings = {acc.removeprefix(prefix): int(total) for acc, total in rows}
            debit_entries = int(
                uow.session.execute(
                    text(
                        "SELECT COUNT(*) FROM journal_entries"
                        " WHERE agency_id = :a AND idempotency_key LIKE 'debit:%'"
                    ),
                    {"a": AGENCY},
                ).scalar_one()
            )
            unbalanced = uow.platform.ledger.unbalanced_entries()
    finally:
        app.dispose()
    if unbalanced:
        errors.append(f"unbalanced journal entries: {unbalanced[:5]}")
    return ContentionResult(
        variant, initial, final, ledger, debit_postings, debit_entries, outcomes, seconds, errors
    )


def violations(result: ContentionResult) -> list[str]:
    """Every broken invariant, as text (empty when all hold)."""
    found = list(result.errors)
    by_key: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
    for o in result.outcomes:
        by_key[(o.sub_account_id, o.key)].append(o)
        if o.balance_micros < 0:
            found.append(f"{o.key}: reported a negative balance {o.balance_micros}")
        if not 0 <= o.taken_micros <= o.amount_micros:
            found.append(f"{o.key}: took {o.taken_micros} of {o.amount_micros}")
    taken: dict[str, int] = defaultdict(int)
    for (sub, key), group in by_key.items():
        firsts = [o for o in group if not o.replayed]
        if len(firsts) != 1:
            found.append(f"{sub}/{key}: {len(firsts)} non-replayed debits (want exactly 1)")
        if len({o.taken_micros for o in group}) != 1:
            found.append(f"{sub}/{key}: replays report {sorted(o.taken_micros for o in group)}")
        taken[sub] += group[0].taken_micros
    if result.debit_entries != len(by_key):
        found.append(f"{result.debit_entries} debit entries posted for {len(by_key)} keys")
    for sub in sorted(set(result.initial) | set(result.final)):
        initial, final = result.initial.get(sub, 0), result.final.get(sub, 0)
        if final < 0:
            found.append(f"{sub}: negative wallet {final}")
        moved = initial - final
        if moved != taken[sub]:
            found.append(
                f"{sub}: initial - final = {moved} but the debits took {taken[sub]}"
                f" (lost or doubled {taken[sub] - moved})"
            )
        if result.debit_postings.get(sub, 0) != taken[sub]:
            found.append(
                f"{sub}: the ledger's debit postings {result.debit_postings.get(sub, 0)}"
                f" != taken {taken[sub]}"
            )
        if result.ledger.get(sub, 0) != final:
            found.append(
                f"{sub}: ledger balance {result.ledger.get(sub, 0)} != cached balance {final}"
            )
    return found


def assert_invariants(result: ContentionResult) -> None:
    found = violations(result)
    if found:
        raise InvariantViolation(
            f"{len(found)} invariant violations ({result.variant}):\n  " + "\n  ".join(found[:30])
        )


# -- fixtures and tests ---------------------------------------------------------------------
@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema of its own in the REBILL_TEST_POSTGRES_URL database."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(
            f"the wallet concurrency test needs PostgreSQL (row locks under real concurrency):"
            f" set {POSTGRES_ENV}, e.g. postgresql://postgres@127.0.0.1:5432/test"
        )
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


def test_concurrent_debits_never_overdraw_lose_or_double(
    pg_url: str, record_property: Callable[[str, object], None]
) -> None:
    result = run_contention(pg_url, "row_lock")
    print(
        f"\n{result.debits} debits ({PROCESSES} processes, {WALLETS} wallets) in"
        f" {result.seconds:.2f}s: {result.debits_per_second:,.0f} debits/s"
    )
    record_property("debits_per_second", round(result.debits_per_second))
    assert result.debits == PROCESSES * DEBITS_PER_PROCESS
    assert_invariants(result)
    # The workload did what it is meant to: replays, partial takes, and empty wallets.
    replays = [o for o in result.outcomes if o.replayed]
    assert len(replays) >= 0.08 * result.debits
    assert any(0 < o.taken_micros < o.amount_micros for o in result.outcomes if not o.replayed)
    assert sum(1 for o in result.outcomes if o.taken_micros == 0) > 100
    assert all(balance == 0 for balance in result.final.values()), "every wallet ran dry"


@pytest.mark.xfail(
    strict=True,
    raises=InvariantViolation,
    reason="the naive read-then-write debit loses updates: the checker must catch it",
)
def test_checker_catches_naive_read_then_write(pg_url: str) -> None:
    result = run_contention(pg_url, "naive", per_process=500)
    print(f"\nnaive: {len(violations(result))} violations")
    assert not result.errors, result.errors  # a crash would not be the checker's catch
    assert_invariants(result)
