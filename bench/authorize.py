"""Benchmark: real-time call authorization and concurrent wallet debits (issue 3).

On each store (a temporary SQLite file, and PostgreSQL when --postgres URL is given, in a fresh
schema that is dropped at the end):

  setup      one agency (America/New_York) with --subs sub-accounts on four plans (three
             postpaid, one prepaid; every 4th prepaid sub-account funded with credits), blocking
             or notifying caps on a fifth of them, parallel-call overrides on some, and a month
             of calls (10-30 per sub-account, 2026-10-01..27) through `import_usage` (untimed)
  decisions  --decisions `authorize_call(uow, agency, sub, direction, None, now)` (pure
             decisions), each timed on its own, random sub-accounts and directions
  baseline   a single-row primary-key lookup on the same store, in its own transaction the
             same way: `with app.uow() as uow: uow.session.get(SubAccountRow, pk)`,
             interleaved with the decisions in blocks so both see the same machine state
  reserve    --reservations `authorize_call(..., call_id)` (a parallel-call slot is written)
  debits     the 4-process contention run of tests/integration/test_wallet_concurrency.py
             (4 x 2,000 debits of 20 hot wallets, 10 % replays) in a fresh store of the same
             backend: debits per second and invariant violations

Targets: decisions p99 / baseline p99 <= 4; debits >= 1,000/s on PostgreSQL with 0 violations.

    uv run python bench/authorize.py                               # full size, SQLite
    uv run python bench/authorize.py --subs 1000 --decisions 10000 # quick
    uv run python bench/authorize.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
    uv run python bench/authorize.py --no-sqlite --postgres URL --profile /tmp/auth-prof

The output ends with a table and a one-line JSON summary.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import platform
import pstats
import random
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from revision import revision
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # to reuse the contention test's workload and checker
    sys.path.insert(0, str(ROOT))

from rebill.adapters.db.engine import normalize_url  # noqa: E402
from rebill.adapters.db.rows import SubAccountRow  # noqa: E402
from rebill.bootstrap import App, build  # noqa: E402
from rebill.config import Settings  # noqa: E402
from rebill.services.catalog.apply import apply_catalog  # noqa: E402
from rebill.services.usage.authorize import authorize_call  # noqa: E402
from rebill.services.usage.import_file import import_usage  # noqa: E402
from rebill.services.wallets.credits import record_credit_purchase  # noqa: E402

AGENCY = "bench"
TIMEZONE = "America/New_York"
CATALOG_NOW = datetime(2026, 9, 15, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 10, 28, 16, 0, tzinfo=UTC)  # late in the month the calls are in
BLOCK = 1_000  # decisions and baseline lookups alternate in blocks of this size

# id, fee, included minutes, outbound/inbound overage per minute, overage, parallel calls
PLANS = [
    ("starter", "49.00", 200, "0.25", "0.20", "postpaid", 2),
    ("growth", "149.00", 1000, "0.19", "0.15", "postpaid", 5),
    ("scale", "399.00", 3000, "0.15", "0.12", "postpaid", -1),
    ("payg", "0", 0, "0.30", "0.25", "prepaid", 3),
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- data -------------------------------------------------------------------------------------
def sub_id(n: int) -> str:
    return f"s{n:05d}"


def catalog(subs: int) -> dict[str, Any]:
    plans = [
        {
            "id": pid,
            "name": pid.title(),
            "monthly_fee": fee,
            "included_minutes": minutes,
            "overage": overage,
            "voice": {
                "outbound": {"overage_per_minute": out, "increment": "60/6"},
                "inbound": {"overage_per_minute": inb, "increment": "60/6"},
            },
            "limits": {"campaigns": 10, "numbers": 10, "parallel_calls": parallel},
        }
        for pid, fee, minutes, out, inb, overage, parallel in PLANS
    ]
    subs_doc = []
    for n in range(subs):
        doc: dict[str, Any] = {
            "id": sub_id(n),
            "name": f"Sub {n}",
            "plan": PLANS[n % len(PLANS)][0],
            "subscribed_at": "2026-09-01T00:00:00-04:00",
        }
        if n % 5 == 0:  # caps on a fifth: blocking spend caps, some minute caps, some notify
            doc["caps"] = {
                "monthly_spend": "5.00" if n % 10 == 0 else "50.00",
                "alerts": ["0.5", "0.8", "1.0"],
                "enforcement": "block" if n % 15 else "notify",
            }
            if n % 25 == 0:
                doc["caps"]["monthly_minutes"] = 300
        if n % 7 == 0:
            doc["limits"] = {"parallel_calls": 1}
        subs_doc.append(doc)
    return {
        "platform": {
            "name": "Bench platform",
            "currency": "USD",
            "wholesale": {
                "voice": {
                    "outbound": {"per_minute": "0.012", "increment": "1/1"},
                    "inbound": {"per_minute": "0.008", "increment": "1/1"},
                },
                "numbers": {"local": {"monthly": "1.15"}},
            },
        },
        "agencies": [
            {
                "id": AGENCY,
                "name": "Bench agency",
                "timezone": TIMEZONE,
                "invoice_prefix": "BENCH",
                "plans": plans,
                "sub_accounts": subs_doc,
            }
        ],
    }


def calls(subs: int, seed: int) -> Iterator[tuple[int, dict[str, Any]]]:
    rng = random.Random(seed)
    tz = ZoneInfo(TIMEZONE)
    start = datetime(2026, 10, 1, tzinfo=tz)
    line = 0
    for n in range(subs):
        for k in range(rng.randint(10, 30)):
            line += 1
            at = start + timedelta(days=rng.randrange(27), seconds=rng.randint(8 * 3600, 20 * 3600))
            yield (
                line,
                {
                    "call_id": f"c-{n}-{k}",
                    "sub_account": sub_id(n),
                    "started_at": at.isoformat(),
                    "duration_seconds": int(rng.expovariate(1 / 150)) + 5,
                    "direction": "outbound" if rng.random() < 0.65 else "inbound",
                    "campaign_id": f"camp-{rng.randint(1, 3)}",
                },
            )


def load(app: App, subs: int, seed: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    apply_catalog(app.uow, catalog(subs), "bench", CATALOG_NOW)
    t1 = time.perf_counter()
    for n in range(3, subs, len(PLANS) * 4):  # every 4th prepaid sub-account
        record_credit_purchase(app.uow, AGENCY, sub_id(n), "3.00", CATALOG_NOW, f"f{n}")
    t2 = time.perf_counter()
    report = import_usage(app.uow, AGENCY, calls(subs, seed), "bench", NOW)
    t3 = time.perf_counter()
    return {
        "catalog_s": round(t1 - t0, 2),
        "funding_s": round(t2 - t1, 2),
        "import_s": round(t3 - t2, 2),
        "calls": report.imported,
        "rejected": report.rejected,
    }


# -- timing -------------------------------------------------------------------------------------
def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p99/max/mean in microseconds."""
    ordered = sorted(samples)
    n = len(ordered)

    def at(q: float) -> float:
        return ordered[min(n - 1, int(q * n))] * 1e6

    return {
        "n": n,
        "p50_us": round(at(0.50), 1),
        "p99_us": round(at(0.99), 1),
        "max_us": round(ordered[-1] * 1e6, 1),
        "mean_us": round(sum(ordered) / n * 1e6, 1),
    }


class StatementCounter:
    def __init__(self, app: App) -> None:
        self.count = 0
        event.listen(app.engine, "before_cursor_execute", self._on)

    def _on(self, *_: Any) -> None:
        self.count += 1


def run_decisions(
    app: App, args: argparse.Namespace, profile: cProfile.Profile | None
) -> dict[str, Any]:
    rng = random.Random(args.seed + 1)
    directions = ("outbound", "inbound")
    decisions: list[float] = []
    baseline: list[float] = []
    outcomes: Counter[str] = Counter()
    perf = time.perf_counter
    uow_factory = app.uow

    def decide_block(count: int) -> None:
        for _ in range(count):
            sub = sub_id(rng.randrange(args.subs))
            direction = directions[rng.random() < 0.35]
            if profile:
                profile.enable()
            t = perf()
            result = authorize_call(uow_factory, AGENCY, sub, direction, None, NOW)
            decisions.append(perf() - t)
            if profile:
                profile.disable()
            d = result.decision
            outcomes["allowed" if d.allowed else str(d.reason)] += 1

    def lookup_block(count: int) -> None:
        for _ in range(count):
            key = (AGENCY, sub_id(rng.randrange(args.subs)))
            t = perf()
            with app.uow() as uow:
                row = uow.session.get(SubAccountRow, key)
            baseline.append(perf() - t)
            assert row is not None

    # Warm up both paths (connections, statement caches).
    decide_block(200)
    lookup_block(200)
    decisions.clear()
    baseline.clear()
    outcomes.clear()
    counter = StatementCounter(app)
    done = 0
    while done < args.decisions:
        step = min(BLOCK, args.decisions - done)
        decide_block(step)
        lookup_block(step)
        done += step
    counted = dict(outcomes.most_common())
    # Statements per call, measured on a small extra sample (not in the timings or outcomes).
    before = counter.count
    decide_block(200)
    per_decision = (counter.count - before) / 200
    before = counter.count
    lookup_block(200)
    per_lookup = (counter.count - before) / 200
    decisions[:] = decisions[: args.decisions]
    baseline[:] = baseline[: args.decisions]
    d, b = percentiles(decisions), percentiles(baseline)
    return {
        "decisions": d,
        "baseline": b,
        "p99_ratio": round(d["p99_us"] / b["p99_us"], 2),
        "p50_ratio": round(d["p50_us"] / b["p50_us"], 2),
        "statements_per_decision": per_decision,
        "statements_per_lookup": per_lookup,
        "outcomes": counted,
    }


def run_reservations(app: App, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed + 2)
    samples: list[float] = []
    outcomes: Counter[str] = Counter()
    perf = time.perf_counter
    for i in range(args.reservations):
        sub = sub_id(rng.randrange(args.subs))
        t = perf()
        result = authorize_call(app.uow, AGENCY, sub, "outbound", f"r-{i}", NOW)
        samples.append(perf() - t)
        d = result.decision
        outcomes["allowed" if d.allowed else str(d.reason)] += 1
    return {**percentiles(samples), "outcomes": dict(outcomes.most_common())}


def run_debits(url: str, args: argparse.Namespace) -> dict[str, Any]:
    from tests.integration.test_wallet_concurrency import run_contention, violations

    result = run_contention(url, "row_lock", processes=args.procs, per_process=args.debits)
    found = violations(result)
    for line in found[:10]:
        log(f"  violation: {line}")
    return {
        "debits": result.debits,
        "seconds": round(result.seconds, 2),
        "debits_per_s": round(result.debits_per_second, 1),
        "violations": len(found),
        "replayed": sum(1 for o in result.outcomes if o.replayed),
        "empty_takes": sum(1 for o in result.outcomes if o.taken_micros == 0),
    }


# -- stores -------------------------------------------------------------------------------------
@contextlib.contextmanager
def sqlite_store(directory: Path, name: str) -> Iterator[str]:
    path = directory / f"{name}.db"
    yield f"sqlite:///{path}"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextlib.contextmanager
def postgres_store(url: str) -> Iterator[str]:
    url = normalize_url(url)
    schema = f"bench_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def run_store(
    name: str, store: Callable[[], contextlib.AbstractContextManager[str]], args: argparse.Namespace
) -> dict[str, Any]:
    result: dict[str, Any] = {"store": name}
    with store() as url:
        app = build(Settings(database_url=url, now=NOW))
        try:
            log(f"[{name}] loading {args.subs} sub-accounts and a month of calls ...")
            result["setup"] = load(app, args.subs, args.seed)
            log(f"[{name}] setup {result['setup']}")
            profile = cProfile.Profile() if args.profile else None
            log(f"[{name}] {args.decisions} decisions + as many baseline lookups ...")
            result.update(run_decisions(app, args, profile))
            if profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                out = args.profile / f"authorize-{name}.prof"
                profile.dump_stats(out)
                log(f"[{name}] profile written to {out}")
                stats = pstats.Stats(profile, stream=sys.stderr)
                stats.sort_stats("cumulative").print_stats(30)
            log(f"[{name}] {args.reservations} authorizations with call_id ...")
            result["reserve"] = run_reservations(app, args)
        finally:
            app.dispose()
    if args.debits:
        log(f"[{name}] {args.procs} processes x {args.debits} debits on 20 hot wallets ...")
        with store() as url:
            result["contention"] = run_debits(url, args)
    return result


def table(results: list[dict[str, Any]]) -> str:
    rows = [
        ("store", lambda r: r["store"]),
        ("calls loaded", lambda r: f"{r['setup']['calls']:,}"),
        ("import s", lambda r: r["setup"]["import_s"]),
        ("decision p50 us", lambda r: r["decisions"]["p50_us"]),
        ("decision p99 us", lambda r: r["decisions"]["p99_us"]),
        ("baseline p50 us", lambda r: r["baseline"]["p50_us"]),
        ("baseline p99 us", lambda r: r["baseline"]["p99_us"]),
        ("p99 / baseline p99 (<=4)", lambda r: r["p99_ratio"]),
        ("p50 / baseline p50", lambda r: r["p50_ratio"]),
        (
            "SQL per decision / lookup",
            lambda r: f"{r['statements_per_decision']:.0f} / {r['statements_per_lookup']:.0f}",
        ),
        ("reserve p50 us", lambda r: r["reserve"]["p50_us"]),
        ("reserve p99 us", lambda r: r["reserve"]["p99_us"]),
        ("debits/s (4 procs)", lambda r: r.get("contention", {}).get("debits_per_s", "-")),
        ("invariant violations", lambda r: r.get("contention", {}).get("violations", "-")),
    ]
    width = max(len(label) for label, _ in rows)
    lines = []
    for label, get in rows:
        cells = []
        for r in results:
            try:
                cells.append(f"{get(r)!s:>14}")
            except (KeyError, TypeError):
                cells.append(f"{'-':>14}")
        lines.append(f"{label:<{width}}  " + "".join(cells))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subs", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--reservations", type=int, default=10_000)
    parser.add_argument("--debits", type=int, default=2_000, help="debits per process (0: skip)")
    parser.add_argument("--procs", type=int, default=4)
    parser.add_argument("--postgres", metavar="URL", help="also run on PostgreSQL")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--profile", type=Path, help="cProfile the decisions into this folder")
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory(prefix="rebill-auth-") as tmp:
        directory = Path(tmp)
        stores: list[tuple[str, Callable[[], contextlib.AbstractContextManager[str]]]] = []
        if not args.no_sqlite:
            counter = iter(range(100))
            stores.append(("sqlite", lambda: sqlite_store(directory, f"s{next(counter)}")))
        if args.postgres:
            pg = args.postgres
            stores.append(("postgres", lambda: postgres_store(pg)))
        for name, store in stores:
            results.append(run_store(name, store, args))
    print(table(results))
    load_avg = os.getloadavg()
    summary = {
        "bench": "authorize",
        "revision": revision(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_avg_1m_at_end": round(load_avg[0], 2),
        "subs": args.subs,
        "decisions": args.decisions,
        "results": results,
    }
    print(json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
