"""Benchmark: import a month of usage through the product's file import, then close the month.

One agency (America/New_York) with --subs sub-accounts on three plans with included minutes
(enough traffic that some sub-accounts go into overage) and --calls calls in 2026-10, generated
with a fixed seed into a CSV file (untimed). On each store (a temporary SQLite file, and
PostgreSQL when --postgres URL is given, in a fresh schema that is dropped at the end):

  import    `import_usage(uow, agency, read_rows(csv), ...)` -- the real file import path,
            CSV reading and validation included (in a fresh child process: its peak RSS)
  baseline  a SQLAlchemy Core executemany of the same rows, already parsed, into
            `calls_baseline` (same columns, primary key and indexes as `calls`)
  copy      PostgreSQL only: a raw `COPY` (psycopg's cursor.copy, write_row) of the same
            parsed rows into another such table, `calls_copy` -- the hardware's pace
  sizes     PostgreSQL only: pg_total_relation_size of `calls` (heap + indexes + TOAST,
            summed over its monthly partitions), of `call_ids` and of `call_totals`, per
            million calls
  close     `close_period(app.uow, Period(2026, 10), [agency], now)` in a fresh child process,
            so that the child's ru_maxrss is the close's peak
  group by  one GROUP BY over `calls` summing retail billable seconds (60/6) per sub-account

Targets: import rate / baseline insert rate >= 0.5 (and >= 0.1 of the raw COPY on
PostgreSQL); close / GROUP BY <= 2.0; close peak RSS < 1 GiB. The close's billable minutes
per sub-account are checked against the GROUP BY.

    uv run python bench/close.py                                # full size, SQLite
    uv run python bench/close.py --calls 200000 --subs 200      # quick
    uv run python bench/close.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
    uv run python bench/close.py --calls 100000 --subs 100 --profile /tmp/prof  # cProfile

With --postgres, SQLite runs too unless --no-sqlite is given.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import cProfile
import csv
import gc
import io
import json
import multiprocessing
import os
import platform
import pstats
import random
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Column, Index, MetaData, Table, bindparam, create_engine, text
from sqlalchemy.engine import make_url

from rebill.adapters.db.rows import CallRow
from rebill.bootstrap import build
from rebill.config import Settings
from rebill.domain.period import Period
from rebill.services.catalog.apply import apply_catalog
from rebill.services.invoicing.close import close_period
from rebill.services.usage.import_file import read_rows

AGENCY = "bench"
TIMEZONE = "America/New_York"
PERIOD = Period(2026, 10)
CATALOG_NOW = datetime(2026, 9, 15, 12, 0, tzinfo=UTC)
CLOSE_NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
RETAIL_FIRST, RETAIL_STEP = 60, 6  # every plan's retail increment, both directions
BASELINE_BATCH = 10_000
GIB = 1 << 30

# id, name, fee, included minutes, outbound overage/min, inbound overage/min
PLANS = [
    ("starter", "Starter", "49.00", 500, "0.25", "0.20"),
    ("growth", "Growth", "149.00", 2000, "0.19", "0.15"),
    ("scale", "Scale", "399.00", 5000, "0.15", "0.12"),
]


# -- data -------------------------------------------------------------------------------------
def sub_id(index: int) -> str:
    return f"sub-{index:05d}"


def catalog(n_subs: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    tz = ZoneInfo(TIMEZONE)
    subscribed = PERIOD.previous().start(tz).astimezone(tz).isoformat()
    subs = []
    for index in range(n_subs):
        sid = sub_id(index)
        subs.append(
            {
                "id": sid,
                "name": f"Sub-account {index}",
                "email": f"billing@{sid}.example",
                "plan": rng.choice(PLANS)[0],
                "subscribed_at": subscribed,
                "numbers": [
                    {"e164": f"+1555{index:07d}", "type": "local", "rented_at": subscribed}
                ],
            }
        )
    return {
        "platform": {
            "name": "Bench Voice Platform",
            "currency": "USD",
            "wholesale": {
                "voice": {
                    "outbound": {"per_minute": "0.090", "increment": "1/1"},
                    "inbound": {"per_minute": "0.070", "increment": "1/1"},
                },
                "numbers": {"local": {"monthly": "1.15"}, "toll_free": {"monthly": "2.15"}},
                "agency_monthly_fee": "99.00",
            },
        },
        "agencies": [
            {
                "id": AGENCY,
                "name": "Bench Agency",
                "timezone": TIMEZONE,
                "invoice_prefix": "BENCH",
                "tax": {"mode": "none"},
                "plans": [_plan(*p) for p in PLANS],
                "sub_accounts": subs,
            }
        ],
    }


def _plan(
    plan_id: str, name: str, fee: str, minutes: int, outbound: str, inbound: str
) -> dict[str, Any]:
    increment = f"{RETAIL_FIRST}/{RETAIL_STEP}"
    return {
        "id": plan_id,
        "name": name,
        "monthly_fee": fee,
        "included_minutes": minutes,
        "overage": "postpaid",
        "voice": {
            "outbound": {"overage_per_minute": outbound, "increment": increment},
            "inbound": {"overage_per_minute": inbound, "increment": increment},
        },
        "numbers": {"included": 1, "local": {"monthly": "3.00"}, "toll_free": {"monthly": "5.00"}},
        "limits": {"campaigns": 10, "numbers": 10, "parallel_calls": 5},
    }


def write_calls_csv(path: Path, n_calls: int, n_subs: int, seed: int) -> None:
    """Calls in chronological order (as a provider export), spread over the month with a
    business-hours bias, sub-accounts of skewed volume, Twilio-like random call ids."""
    rng = random.Random(seed + 1)
    tz = ZoneInfo(TIMEZONE)
    start, end = PERIOD.bounds(tz)
    month_seconds = int((end - start).total_seconds())
    weights = [rng.lognormvariate(0, 0.6) for _ in range(n_subs)]
    subs = rng.choices(range(n_subs), weights=weights, k=n_calls)
    offsets = []
    for _ in range(n_calls):
        offset = rng.randrange(month_seconds)
        local_hour = (offset // 3600) % 24  # the month starts at local midnight (EDT all month)
        if not 8 <= local_hour < 20 and rng.random() < 0.7:
            offset = rng.randrange(month_seconds)  # re-draw most night calls
        offsets.append(offset)
    offsets.sort()
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["call_id", "sub_account", "started_at", "duration_seconds", "direction", "campaign_id"]
        )
        cache_key, cache_text = -1, ""
        for offset, sub in zip(offsets, subs, strict=True):
            answered = rng.random() > 0.12
            duration = int(rng.expovariate(1 / 120)) + 5 if answered else 0
            if offset != cache_key:
                cache_key = offset
                cache_text = (start + timedelta(seconds=offset)).astimezone(tz).isoformat()
            sid = sub_id(sub)
            writer.writerow(
                [
                    f"CA{rng.getrandbits(128):032x}",
                    sid,
                    cache_text,
                    duration,
                    "outbound" if rng.random() < 0.65 else "inbound",
                    f"{sid}-c{rng.randint(1, 3)}",
                ]
            )


# -- child processes (fresh interpreters: their ru_maxrss is their own peak) ------------------
def _reset_peak() -> None:
    """Reset this process's RSS high-water mark (Linux: VmHWM) to its current RSS. A spawned
    child otherwise inherits its parent's ru_maxrss (Linux keeps it across fork and exec)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _maxrss_bytes() -> int:
    """Peak RSS since the last `_reset_peak` (VmHWM), else ru_maxrss (KiB on Linux)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _profiled(profile: str | None, work: Any) -> Any:
    if not profile:
        return work()
    profiler = cProfile.Profile()
    try:
        return profiler.runcall(work)
    finally:
        profiler.dump_stats(profile)


def child_import(url: str, csv_path: str, profile: str | None) -> dict[str, Any]:
    from rebill.services.usage.import_file import import_usage

    app = build(Settings(database_url=url, now=CLOSE_NOW), migrate_schema=False)
    _reset_peak()
    before = _maxrss_bytes()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    report = _profiled(
        profile,
        lambda: import_usage(app.uow, AGENCY, read_rows(Path(csv_path)), csv_path, CLOSE_NOW),
    )
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - cpu0
    app.dispose()
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "imported": report.imported,
        "duplicates": report.duplicates,
        "rejected": report.rejected,
        "rss_before": before,
        "rss_peak": _maxrss_bytes(),
        "rejections": [str(r) for r in report.rejections[:5]],
    }


def child_close(url: str, profile: str | None) -> dict[str, Any]:
    from sqlalchemy import event

    from rebill.adapters.db.repositories.usage import SqlUsageRepository

    app = build(Settings(database_url=url, now=CLOSE_NOW), migrate_schema=False)
    statements = [0]
    event.listen(
        app.engine, "before_cursor_execute", lambda *_: statements.__setitem__(0, statements[0] + 1)
    )
    if app.engine.dialect.name == "postgresql":  # COPY runs on the driver's cursor: count it
        import psycopg

        copy = psycopg.Cursor.copy

        def counted_copy(self: Any, *args: Any, **kwargs: Any) -> Any:
            statements[0] += 1
            return copy(self, *args, **kwargs)

        psycopg.Cursor.copy = counted_copy  # type: ignore[method-assign]
    # Diagnostics only: how long the one pass over the period's calls (the GROUP BY) takes.
    claim_seconds = [0.0]
    totals = SqlUsageRepository.period_call_totals

    def timed_totals(self: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return totals(self, *args, **kwargs)
        finally:
            claim_seconds[0] += time.perf_counter() - t0

    SqlUsageRepository.period_call_totals = timed_totals  # type: ignore[method-assign]
    # The collector as every `rebill` process sets it (`rebill close`, each `serve` worker:
    # entrypoints/process.py); the time it runs during the close is reported.
    from rebill.entrypoints.process import tune_gc

    tune_gc()
    gc_seconds = [0.0, 0.0]  # total, start of the running collection

    def collecting(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_seconds[1] = time.perf_counter()
        else:
            gc_seconds[0] += time.perf_counter() - gc_seconds[1]

    # Untimed warm-up, as a running server has it: the pool's connection and the ORM's mappers
    # (configured on the first query). The close's own statements are still compiled cold.
    with app.uow() as uow:
        uow.platform.agencies.ids()
    statements[0] = 0
    _reset_peak()
    before = _maxrss_bytes()
    gc.callbacks.append(collecting)
    t0 = time.perf_counter()
    documents = _profiled(profile, lambda: close_period(app.uow, PERIOD, [AGENCY], CLOSE_NOW))
    seconds = time.perf_counter() - t0
    gc.callbacks.remove(collecting)
    peak = _maxrss_bytes()
    app.dispose()
    doc = documents[0]
    retail = doc["retail_invoices"]
    billable = {i["sub_account"]: i["usage"]["billable_minutes"] for i in retail}
    return {
        "seconds": seconds,
        "rss_before": before,
        "rss_peak": peak,
        "claim_seconds": claim_seconds[0],
        "gc_seconds": gc_seconds[0],
        "statements": statements[0],
        "retail_invoices": len(retail),
        "subs_in_overage": sum(1 for i in retail if Decimal(i["usage"]["postpaid_minutes"]) > 0),
        "revenue": doc["profit"]["revenue"],
        "cost": doc["profit"]["cost"],
        "profit": doc["profit"]["profit"],
        "wholesale_total": doc["wholesale_invoice"]["total"],
        "billable_minutes": billable,
    }


def in_child(function: Any, *args: Any) -> Any:
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


# -- baselines --------------------------------------------------------------------------------
def baseline_table(metadata: MetaData, name: str = "calls_baseline") -> Table:
    """A copy of `calls` as the product defines it now: the same columns and types, primary
    key, and indexes (renamed)."""
    calls = CallRow.__table__
    columns = [
        Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
        for c in calls.columns
    ]
    indexes = [
        Index(
            str(index.name).replace("ix_calls", f"ix_{name}", 1),
            *[c.name for c in index.columns],
            unique=index.unique,
        )
        for index in calls.indexes
    ]
    return Table(name, metadata, *columns, *indexes)


def _filler(column: Column[Any]) -> Any:
    """A value for a NOT NULL column that the CSV does not give (e.g. derived ratings)."""
    if column.nullable:
        return None
    if column.name == "period":
        return str(PERIOD)
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return None  # a column the CSV gives (started_at)
    return 0 if python_type is int else ""


def _parsed_rows(table: Table, csv_path: Path) -> Any:
    """The CSV's rows as `table`'s rows (dicts), parsed before any timing starts."""
    template = {c.name: _filler(c) for c in table.columns}
    with csv_path.open(newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            row = dict(template)
            row.update(
                agency_id=AGENCY,
                call_id=record["call_id"],
                sub_account_id=record["sub_account"],
                started_at=datetime.fromisoformat(record["started_at"]),
                duration_seconds=int(record["duration_seconds"]),
                direction=record["direction"],
                campaign_id=record["campaign_id"],
            )
            yield row


def baseline_insert(engine: Any, csv_path: Path) -> dict[str, Any]:
    """Core executemany of pre-parsed rows; only the executes and the commit are timed."""
    metadata = MetaData()
    table = baseline_table(metadata)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    statement = table.insert()
    seconds = 0.0
    rows = 0
    with engine.connect() as connection:
        batch: list[dict[str, Any]] = []
        for row in _parsed_rows(table, csv_path):
            batch.append(row)
            if len(batch) >= BASELINE_BATCH:
                t0 = time.perf_counter()
                connection.execute(statement, batch)
                seconds += time.perf_counter() - t0
                rows += len(batch)
                batch = []
        t0 = time.perf_counter()
        if batch:
            connection.execute(statement, batch)
        connection.commit()
        seconds += time.perf_counter() - t0
        rows += len(batch)
    return {"rows": rows, "seconds": seconds}


def baseline_copy(engine: Any, csv_path: Path) -> dict[str, Any]:
    """PostgreSQL: a raw COPY of the pre-parsed rows (naive UTC timestamps, as stored) into
    `calls_copy`; the COPY and the commit are timed."""
    metadata = MetaData()
    table = baseline_table(metadata, "calls_copy")
    metadata.drop_all(engine)
    metadata.create_all(engine)
    names = [c.name for c in table.columns]
    rows = [
        tuple(
            v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime) else v
            for v in (row[n] for n in names)
        )
        for row in _parsed_rows(table, csv_path)
    ]
    with engine.connect() as connection:
        driver = connection.connection.driver_connection
        t0 = time.perf_counter()
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY calls_copy ({', '.join(names)}) FROM STDIN") as copy,
        ):
            for values in rows:
                copy.write_row(values)
        driver.commit()
        seconds = time.perf_counter() - t0
    return {"rows": len(rows), "seconds": seconds}


def pg_sizes(engine: Any) -> dict[str, int]:
    """Bytes of `calls` (all of it, then heap and indexes, summed over its monthly
    partitions), of its guard `call_ids` and of `call_totals`."""
    tree = "FROM pg_partition_tree('calls') WHERE isleaf"
    queries = {
        "calls_total": f"(SELECT COALESCE(SUM(pg_total_relation_size(relid)), 0) {tree})",
        "calls_heap": f"(SELECT COALESCE(SUM(pg_relation_size(relid)), 0) {tree})",
        "calls_indexes": f"(SELECT COALESCE(SUM(pg_indexes_size(relid)), 0) {tree})",
        "call_ids_total": "pg_total_relation_size('call_ids')",
        "call_totals_total": "pg_total_relation_size('call_totals')",
    }
    with engine.connect() as connection:
        return {
            k: int(connection.execute(text(f"SELECT {q}")).scalar_one()) for k, q in queries.items()
        }


GROUP_BY_SQL = f"""
SELECT sub_account_id, COUNT(*) AS calls,
       SUM(CASE WHEN duration_seconds <= 0 THEN 0
                WHEN duration_seconds <= {RETAIL_FIRST} THEN {RETAIL_FIRST}
                ELSE {RETAIL_FIRST} + ((duration_seconds - {RETAIL_FIRST} + {RETAIL_STEP - 1})
                                        / {RETAIL_STEP}) * {RETAIL_STEP}
           END) AS billable_seconds
FROM calls
WHERE agency_id = :agency AND started_at >= :start AND started_at < :end
GROUP BY sub_account_id
"""


def group_by(engine: Any) -> tuple[float, dict[str, int]]:
    start, end = PERIOD.bounds(ZoneInfo(TIMEZONE))
    started_type = CallRow.__table__.c.started_at.type
    statement = text(GROUP_BY_SQL).bindparams(
        bindparam("start", type_=started_type), bindparam("end", type_=started_type)
    )
    with engine.connect() as connection:
        t0 = time.perf_counter()
        rows = connection.execute(statement, {"agency": AGENCY, "start": start, "end": end}).all()
        seconds = time.perf_counter() - t0
    return seconds, {sub: int(billable) for sub, _, billable in rows}


def table_sizes(engine: Any) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            name: connection.execute(text(f"SELECT COUNT(*) FROM {name}")).scalar_one()
            for name in ("calls", "calls_baseline", "calls_copy")
            if name != "calls_copy" or engine.dialect.name == "postgresql"
        }


# -- one store --------------------------------------------------------------------------------
@contextlib.contextmanager
def sqlite_store(workdir: Path):  # type: ignore[no-untyped-def]
    path = workdir / "bench.db"
    yield f"sqlite:///{path}"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextlib.contextmanager
def postgres_store(url: str, extra_options: str = ""):  # type: ignore[no-untyped-def]
    schema = f"bench_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    options = f"-csearch_path={schema} {extra_options}".strip()
    scoped = make_url(url).update_query_dict({"options": options})
    try:
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def run_store(
    name: str, url: str, csv_path: Path, catalog_doc: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    wall = time.perf_counter()
    log(f"[{name}] migrate + apply catalog ({args.subs} sub-accounts) ...")
    app = build(Settings(database_url=url, now=CATALOG_NOW))
    t0 = time.perf_counter()
    apply_catalog(app.uow, catalog_doc, "bench-catalog", CATALOG_NOW)
    catalog_seconds = time.perf_counter() - t0
    log(f"[{name}] catalog applied in {catalog_seconds:.1f}s; importing {args.calls:,} calls ...")

    profile = args.profile
    imported = in_child(
        child_import, url, str(csv_path), f"{profile}/{name}-import.prof" if profile else None
    )
    log(
        f"[{name}] import {imported['seconds']:.1f}s ({imported['imported']:,} imported, "
        f"{imported['duplicates']} duplicates, {imported['rejected']} rejected)"
    )
    if imported["rejections"]:
        log(f"[{name}] first rejections: {imported['rejections']}")

    log(f"[{name}] baseline insert ...")
    baseline = baseline_insert(app.engine, csv_path)
    log(f"[{name}] baseline insert {baseline['seconds']:.1f}s")
    copied = {"rows": 0, "seconds": 0.0}
    pg: dict[str, int] = {}
    if name == "postgresql":
        copied = baseline_copy(app.engine, csv_path)
        log(f"[{name}] baseline COPY {copied['seconds']:.1f}s")
        with app.engine.connect() as connection:
            connection.execute(text("ANALYZE calls"))
            connection.commit()
        pg = pg_sizes(app.engine)
    sizes = table_sizes(app.engine)

    groupby_runs = []
    for _ in range(2):
        seconds, by_sub = group_by(app.engine)
        groupby_runs.append(seconds)
    log(f"[{name}] GROUP BY {', '.join(f'{s:.2f}s' for s in groupby_runs)}; closing ...")

    closed = in_child(child_close, url, f"{profile}/{name}-close.prof" if profile else None)
    log(f"[{name}] close {closed['seconds']:.1f}s, peak RSS {closed['rss_peak'] / 2**20:.0f} MiB")

    billable = closed.pop("billable_minutes")
    mismatches = [
        sub for sub, seconds in by_sub.items() if Decimal(billable.get(sub, "0")) * 60 != seconds
    ]
    if mismatches:
        log(
            f"[{name}] WARNING: close and GROUP BY disagree for {len(mismatches)} sub-accounts, "
            f"e.g. {mismatches[:3]}"
        )
    app.dispose()

    import_rate = imported["imported"] / imported["seconds"]
    insert_rate = baseline["rows"] / baseline["seconds"]
    groupby_seconds = min(groupby_runs)
    return {
        "store": name,
        "subs": args.subs,
        "calls": args.calls,
        "catalog_seconds": round(catalog_seconds, 2),
        "import_rows": imported["imported"],
        "import_rejected": imported["rejected"],
        "import_duplicates": imported["duplicates"],
        "import_seconds": round(imported["seconds"], 2),
        "import_rows_per_s": round(import_rate),
        "import_peak_rss_mib": round(imported["rss_peak"] / 2**20),
        # the import process's own CPU (the database server's excluded): a rate that a busy,
        # shared machine does not distort, for comparing sizes
        "import_cpu_us_per_call": round(imported["cpu_seconds"] * 1e6 / imported["imported"]),
        "insert_rows": baseline["rows"],
        "insert_seconds": round(baseline["seconds"], 2),
        "insert_rows_per_s": round(insert_rate),
        "import_vs_insert": round(import_rate / insert_rate, 3),
        "copy_rows_per_s": round(copied["rows"] / copied["seconds"]) if copied["rows"] else None,
        "import_vs_copy": (
            round(import_rate * copied["seconds"] / copied["rows"], 3) if copied["rows"] else None
        ),
        "pg_bytes": pg,
        "calls_bytes_per_million": (
            round(pg["calls_total"] * 1_000_000 / imported["imported"]) if pg else None
        ),
        "call_ids_bytes_per_million": (
            round(pg["call_ids_total"] * 1_000_000 / imported["imported"]) if pg else None
        ),
        "close_seconds": round(closed["seconds"], 2),
        "groupby_seconds": round(groupby_seconds, 3),
        "groupby_runs": [round(s, 3) for s in groupby_runs],
        "close_vs_groupby": round(closed["seconds"] / groupby_seconds, 2),
        "close_claim_seconds": round(closed["claim_seconds"], 2),
        "close_gc_seconds": round(closed["gc_seconds"], 3),
        "close_statements": closed["statements"],
        "close_peak_rss_mib": round(closed["rss_peak"] / 2**20),
        "close_rss_before_mib": round(closed["rss_before"] / 2**20),
        "close_rss_growth_mib": round((closed["rss_peak"] - closed["rss_before"]) / 2**20),
        "retail_invoices": closed["retail_invoices"],
        "subs_in_overage": closed["subs_in_overage"],
        "revenue": closed["revenue"],
        "cost": closed["cost"],
        "profit": closed["profit"],
        "close_matches_groupby": not mismatches,
        "rows_in_tables": sizes,
        "targets_met": {
            "import_vs_insert>=0.5": import_rate / insert_rate >= 0.5,
            "close_vs_groupby<=2.0": closed["seconds"] / groupby_seconds <= 2.0,
            "import_vs_copy>=0.1": (
                None
                if not copied["rows"]
                else import_rate * copied["seconds"] / copied["rows"] >= 0.1
            ),
            "close_peak_rss<1GiB": closed["rss_peak"] < GIB,
        },
        "wall_seconds": round(time.perf_counter() - wall, 1),
    }


# -- output -----------------------------------------------------------------------------------
def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def table(results: list[dict[str, Any]]) -> str:
    rows = [
        ("rows imported", "import_rows", "{:,}"),
        ("import seconds", "import_seconds", "{:.2f}"),
        ("import rows/s", "import_rows_per_s", "{:,}"),
        ("import peak RSS MiB", "import_peak_rss_mib", "{}"),
        ("import CPU µs per call (client)", "import_cpu_us_per_call", "{:,}"),
        ("baseline insert rows", "insert_rows", "{:,}"),
        ("baseline insert seconds", "insert_seconds", "{:.2f}"),
        ("baseline insert rows/s", "insert_rows_per_s", "{:,}"),
        ("import / insert (>= 0.5)", "import_vs_insert", "{:.3f}"),
        ("raw COPY rows/s (PostgreSQL)", "copy_rows_per_s", "{:,}"),
        ("import / COPY (>= 0.1)", "import_vs_copy", "{:.3f}"),
        ("calls bytes per million calls", "calls_bytes_per_million", "{:,}"),
        ("call_ids bytes per million calls", "call_ids_bytes_per_million", "{:,}"),
        ("close seconds", "close_seconds", "{:.2f}"),
        ("  of which the GROUP BY pass", "close_claim_seconds", "{:.2f}"),
        ("  of which garbage collection", "close_gc_seconds", "{:.3f}"),
        ("  SQL statements", "close_statements", "{:,}"),
        ("GROUP BY seconds (best of 2)", "groupby_seconds", "{:.3f}"),
        ("close / GROUP BY (<= 2.0)", "close_vs_groupby", "{:.2f}"),
        ("close peak RSS MiB (< 1024)", "close_peak_rss_mib", "{}"),
        ("  of which before close", "close_rss_before_mib", "{}"),
        ("retail invoices", "retail_invoices", "{:,}"),
        ("sub-accounts in overage", "subs_in_overage", "{:,}"),
        ("close matches GROUP BY", "close_matches_groupby", "{}"),
        ("catalog apply seconds", "catalog_seconds", "{:.2f}"),
        ("store wall seconds", "wall_seconds", "{:.1f}"),
    ]
    width = max(len(label) for label, _, _ in rows)
    out = io.StringIO()
    out.write(f"{'':{width}}" + "".join(f"  {r['store']:>14}" for r in results) + "\n")
    for label, key, fmt in rows:
        out.write(
            f"{label:{width}}"
            + "".join(f"  {'-' if r[key] is None else fmt.format(r[key]):>14}" for r in results)
            + "\n"
        )
    return out.getvalue()


def git_revision() -> str:
    """The commit measured, with "+dirty" when src/ has uncommitted changes."""
    if os.environ.get("REBILL_BENCH_REVISION"):  # e.g. when run from an exported snapshot
        return os.environ["REBILL_BENCH_REVISION"]
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "src"],
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2_000_000)
    parser.add_argument("--subs", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=20261001)
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also run on PostgreSQL (a fresh schema in this database, dropped at the end)",
    )
    parser.add_argument(
        "--pg-options",
        default="",
        metavar="OPTS",
        help="extra libpq "
        "`options` for the PostgreSQL run, "
        "e.g. -cplan_cache_mode=force_custom_plan",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="cProfile the import and the close; "
        "write <store>-import.prof and <store>-close.prof into DIR",
    )
    args = parser.parse_args()
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="rebill-bench-"))
    results = []
    try:
        csv_path = workdir / "calls.csv"
        t0 = time.perf_counter()
        write_calls_csv(csv_path, args.calls, args.subs, args.seed)
        log(
            f"generated {args.calls:,} calls for {args.subs:,} sub-accounts in "
            f"{time.perf_counter() - t0:.1f}s ({csv_path.stat().st_size / 2**20:.0f} MiB CSV)"
        )
        catalog_doc = catalog(args.subs, args.seed)
        if not args.no_sqlite:
            with sqlite_store(workdir) as url:
                results.append(run_store("sqlite", url, csv_path, catalog_doc, args))
        if args.postgres:
            with postgres_store(args.postgres, args.pg_options) as url:
                results.append(run_store("postgresql", url, csv_path, catalog_doc, args))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    if args.profile:
        for name in sorted(os.listdir(args.profile)):
            if name.endswith(".prof"):
                print(f"\n== {name} (top 25 by cumulative time) ==")
                pstats.Stats(f"{args.profile}/{name}").sort_stats("cumulative").print_stats(25)

    print()
    print(table(results))
    summary = {
        "bench": "close",
        "python": platform.python_version(),
        "rebill": git_revision(),
        "pg_options": args.pg_options or None,
        "total_seconds": round(time.perf_counter() - started, 1),
        "results": results,
    }
    print(json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
