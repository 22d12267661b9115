"""Benchmark: usage ingestion and authorization through the REST API (`rebill serve`).

On each store (a temporary SQLite file, and PostgreSQL when --postgres URL is given, in fresh
schemas reached through `?options=-csearch_path=...` and dropped at the end):

  setup      one agency (America/New_York, the demo's three plans) with --subs sub-accounts,
             applied with `rebill apply` (a JSON catalog), and an agency admin key from
             `rebill keys create --agency ... --role admin --json` (untimed)
  baseline   `rebill usage import calls.csv --agency ... --json` of the same --calls rows into
             a fresh database of the same kind (wall time of the CLI process; its start-up,
             measured by importing a header-only file, is reported and subtracted)
  server     `rebill serve --port P --db URL`: one process, started by this script
  batched    --calls calls (2026-10, unique call_ids, spread over the sub-accounts) posted as
             {"calls": [...]} of --batch records to POST /v1/calls by --batch-threads threads
  singles    --singles requests of one call each, by --single-threads threads
  authorize  --authorizations POST /v1/calls/authorize (no call_id: decisions, no slot) sent
             open-loop at --rate requests/s; latency is measured from each request's scheduled
             send time (so a slow server cannot hide its queue), and from the actual send
  verify     the per-record results (all accepted), a SQL count of the agency's calls
             (= calls + singles), and GET /v1/reports/usage?period=2026-10 after the batched
             phase equal, per sub-account, to `rebill usage summary` of the CLI-imported base

The client is this process (httpx, threads), on 127.0.0.1; request bodies are serialized
before the clock starts. Targets: batched >= 20,000 calls/s and >= 0.5 x the CLI import rate;
singles >= 1,000 requests/s; authorization p99 <= 10 ms at 500 requests/s.

    uv run python bench/ingest.py                                       # full size, SQLite
    uv run python bench/ingest.py --calls 20000 --singles 2000 --authorizations 5000   # quick
    uv run python bench/ingest.py --postgres postgresql://postgres@127.0.0.1:5432/test
    uv run python bench/ingest.py --no-sqlite --postgres URL --py-spy /tmp/ingest-prof

--py-spy DIR records the server with py-spy during each phase (DIR/<store>-<phase>.txt,
collapsed stacks, plus a top-functions summary printed at the end; needs `uv pip install
py-spy`). --profile DIR runs the server under cProfile instead (DIR/<store>-server.prof).
The output ends with a table and a one-line JSON summary.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import csv
import io
import json
import os
import platform
import random
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from rebill.adapters.db.engine import normalize_url
from rebill.demo.data import demo_catalog
from rebill.domain.period import Period

AGENCY = "acme"  # the demo catalog's agency
TIMEZONE = "America/New_York"
PERIOD = Period(2026, 10)
PLANS = ("starter", "growth", "scale")


# -- data -------------------------------------------------------------------------------------
def sub_id(index: int) -> str:
    return f"sub-{index:04d}"


def catalog(n_subs: int) -> dict[str, Any]:
    """The demo catalog (platform, agency, plans), with --subs generated sub-accounts (one local
    number each, no caps) instead of the demo's dozen."""
    document = demo_catalog(PERIOD)
    tz = ZoneInfo(TIMEZONE)
    subscribed = PERIOD.previous().start(tz).astimezone(tz).isoformat()
    document["agencies"][0]["sub_accounts"] = [
        {
            "id": sub_id(index),
            "name": f"Sub-account {index}",
            "email": f"billing@{sub_id(index)}.example",
            "plan": PLANS[index % 3],
            "subscribed_at": subscribed,
            "numbers": [{"e164": f"+1555{index:07d}", "type": "local", "rented_at": subscribed}],
        }
        for index in range(n_subs)
    ]
    return document


FIELDS = ("call_id", "sub_account", "started_at", "duration_seconds", "direction", "campaign_id")


class Calls:
    """Seeded calls in 2026-10: the batched stream in chronological order (as a provider export)
    and the singles after it, with unique call ids, sub-accounts of skewed volume."""

    def __init__(self, n_calls: int, n_singles: int, n_subs: int, seed: int) -> None:
        rng = random.Random(seed)
        tz = ZoneInfo(TIMEZONE)
        start, end = PERIOD.bounds(tz)
        month = int((end - start).total_seconds())
        weights = [rng.lognormvariate(0, 0.6) for _ in range(n_subs)]
        total = n_calls + n_singles
        subs = rng.choices(range(n_subs), weights=weights, k=total)
        offsets = sorted(rng.randrange(month) for _ in range(n_calls))
        offsets += [rng.randrange(month) for _ in range(n_singles)]
        stamps: dict[int, str] = {}
        self.rows: list[tuple[str, str, str, int, str, str]] = []
        for serial, (offset, sub) in enumerate(zip(offsets, subs, strict=True)):
            stamp = stamps.get(offset)
            if stamp is None:
                stamp = (start + timedelta(seconds=offset)).astimezone(tz).isoformat()
                if len(stamps) < 4_000_000:
                    stamps[offset] = stamp
            answered = rng.random() > 0.12
            sid = sub_id(sub)
            self.rows.append(
                (
                    f"CA{serial:08d}{rng.getrandbits(64):016x}",
                    sid,
                    stamp,
                    int(rng.expovariate(1 / 120)) + 5 if answered else 0,
                    "outbound" if rng.random() < 0.65 else "inbound",
                    f"{sid}-c{rng.randint(1, 3)}",
                )
            )
        self.n_calls = n_calls

    def batched(self) -> list[tuple[str, str, str, int, str, str]]:
        return self.rows[: self.n_calls]

    def singles(self) -> list[tuple[str, str, str, int, str, str]]:
        return self.rows[self.n_calls :]

    def write_csv(self, path: Path) -> None:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(FIELDS)
            writer.writerows(self.batched())


def body(rows: list[tuple[str, str, str, int, str, str]]) -> bytes:
    return json.dumps(
        {"calls": [dict(zip(FIELDS, row, strict=True)) for row in rows]}, separators=(",", ":")
    ).encode()


# -- processes --------------------------------------------------------------------------------
def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def rebill_command() -> list[str]:
    """The venv's `rebill` script when there is one (the server's pid is then the server's),
    else `uv run rebill`."""
    script = Path(sys.executable).parent / "rebill"
    return [str(script)] if script.exists() else ["uv", "run", "rebill"]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli(*args: str) -> tuple[float, str]:
    """Run `rebill ARGS`; (wall seconds, stdout). REBILL_NOW is left as the caller has it."""
    t0 = time.perf_counter()
    done = subprocess.run([*rebill_command(), *args], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"rebill {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return seconds, done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), 0.0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def descendants(pid: int) -> list[int]:
    """A process and all its children, grandchildren... (Linux /proc)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                queue += [int(c) for c in (task / "children").read_text().split()]
    return found


class Server:
    def __init__(self, url: str, log_path: Path, profile: str | None, workers: int = 1) -> None:
        self.port = free_port()
        command = [*rebill_command(), "serve", "--port", str(self.port), "--db", url]
        if workers > 1:
            command += ["--workers", str(workers), "--no-background"]
        if profile:
            command = [sys.executable, "-m", "cProfile", "-o", profile, *command]
        self.log_path = log_path
        self.handle = log_path.open("w")
        self.process = subprocess.Popen(command, stdout=self.handle, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"rebill serve exited:\n{log_path.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/openapi.json", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"rebill serve did not answer:\n{log_path.read_text()}")
            time.sleep(0.1)
        # One worker answering does not mean the others have started: wait until the server's
        # CPU stops moving, so that no worker's start-up is counted in a phase.
        settled, last = 0, self.cpu()
        while settled < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
            now = self.cpu()
            settled = settled + 1 if now - last < 0.02 else 0
            last = now

    def cpu(self) -> float:
        """CPU seconds of the server and its worker processes (`--workers N`)."""
        return sum(cpu_seconds(pid) for pid in descendants(self.process.pid))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # uvicorn shuts down; cProfile dumps
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.handle.close()


class Spy:
    """py-spy record of the server for one phase (collapsed stacks), when asked for."""

    def __init__(self, directory: str | None, pid: int, name: str) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        if not directory:
            return
        exe = Path(sys.executable).parent / "py-spy"
        self.path = Path(directory) / f"{name}.txt"
        self.process = subprocess.Popen(
            [
                str(exe if exe.exists() else "py-spy"),
                "record",
                "--pid",
                str(pid),
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(self.path),
                "--nonblocking",
                "--subprocesses",  # the workers of `--workers N`
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()


def summarize_spy(path: Path, top: int = 25) -> str:
    """The hottest functions of a collapsed-stack file: rebill's own frames by inclusive share
    (below the HTTP stack), then every frame by self share."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    out = io.StringIO()
    out.write(f"{total} samples; rebill frames, inclusive %:\n")
    shown = 0
    for frame, count in inclusive.most_common():
        if "rebill/" in frame and "entrypoints/cli" not in frame and shown < top:
            out.write(f"  {100 * count / total:5.1f}  {frame}\n")
            shown += 1
    out.write("all frames, self %:\n")
    for frame, count in own.most_common(top // 2):
        out.write(f"  {100 * count / total:5.1f}  {frame}\n")
    return out.getvalue()


# -- load -------------------------------------------------------------------------------------
def closed_loop(
    base: str, key: str, path: str, bodies: list[bytes], threads: int, timeout: float
) -> dict[str, Any]:
    """Post every body once, `threads` at a time; tally the per-record results."""
    pending = iter(range(len(bodies)))
    lock = threading.Lock()
    tally: collections.Counter[str] = collections.Counter()
    latencies: list[float] = []
    failures: list[str] = []

    def work() -> None:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        with httpx.Client(base_url=base, headers=headers, timeout=timeout) as client:
            while True:
                with lock:
                    index = next(pending, None)
                if index is None:
                    return
                t0 = time.perf_counter()
                response = client.post(path, content=bodies[index])
                elapsed = time.perf_counter() - t0
                if response.status_code != 200:
                    with lock:
                        failures.append(f"{response.status_code} {response.text[:300]}")
                    continue
                counts = collections.Counter(r["status"] for r in response.json()["results"])
                with lock:
                    tally.update(counts)
                    latencies.append(elapsed)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    t0 = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return {
        "seconds": time.perf_counter() - t0,
        "requests": len(bodies),
        "results": dict(tally),
        "failures": len(failures),
        "first_failures": failures[:3],
        "latencies": latencies,
    }


def open_loop(
    base: str, key: str, bodies: list[bytes], rate: float, threads: int
) -> dict[str, Any]:
    """Request i is due at t0 + i / rate whatever the answers before it; `threads` senders.
    Latency from the due time (includes any wait for a free sender) and from the send."""
    pending = iter(range(len(bodies)))
    lock = threading.Lock()
    from_due = [0.0] * len(bodies)
    from_send = [0.0] * len(bodies)
    late = [0.0] * len(bodies)
    statuses: collections.Counter[int] = collections.Counter()
    allowed = collections.Counter[bool]()
    start = time.perf_counter() + 0.2

    def work() -> None:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            while True:
                with lock:
                    index = next(pending, None)
                if index is None:
                    return
                due = start + index / rate
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                sent = time.perf_counter()
                response = client.post("/v1/calls/authorize", content=bodies[index])
                done = time.perf_counter()
                from_due[index] = done - due
                from_send[index] = done - sent
                late[index] = max(0.0, sent - due)
                ok = response.status_code == 200
                with lock:
                    statuses[response.status_code] += 1
                    if ok:
                        allowed[bool(response.json()["allowed"])] += 1

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "requests": len(bodies),
        "statuses": {str(k): v for k, v in statuses.items()},
        "allowed": allowed[True],
        "refused": allowed[False],
        "from_due": from_due,
        "from_send": from_send,
        "late": late,
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


# -- stores -----------------------------------------------------------------------------------
@contextlib.contextmanager
def sqlite_store(workdir: Path, name: str):  # type: ignore[no-untyped-def]
    path = workdir / f"{name}.db"
    yield f"sqlite:///{path}"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextlib.contextmanager
def postgres_store(url: str):  # type: ignore[no-untyped-def]
    schema = f"bench_{secrets.token_hex(4)}"
    admin = create_engine(normalize_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def count_calls(url: str) -> int:
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    text("SELECT COUNT(*) FROM calls WHERE agency_id = :agency"),
                    {"agency": AGENCY},
                ).scalar_one()
            )
    finally:
        engine.dispose()


def setup_store(url: str, catalog_path: Path) -> str:
    """Migrate, apply the catalog and create an agency admin key with the CLI; the key."""
    cli("apply", str(catalog_path), "--db", url, "--json")
    _, output = cli("keys", "create", "--agency", AGENCY, "--role", "admin", "--json", "--db", url)
    return str(json.loads(output)["key"])


def billable_by_sub(summary: dict[str, Any], key: str) -> dict[str, str]:
    return {row["sub_account"]: row["billable_minutes"] for row in summary[key]}


def run_store(
    name: str,
    stores: Any,
    workdir: Path,
    calls: Calls,
    args: argparse.Namespace,
) -> dict[str, Any]:
    wall = time.perf_counter()
    catalog_path = workdir / "catalog.json"
    csv_path = workdir / "calls.csv"
    empty_csv = workdir / "empty.csv"
    empty_csv.write_text(",".join(FIELDS) + "\n")

    # -- baseline: the CLI file import into a fresh database of the same kind --
    with stores(f"{name}-cli") as url:
        log(f"[{name}] CLI baseline: apply catalog ({args.subs} sub-accounts) ...")
        setup_store(url, catalog_path)
        cpu0 = children_cpu()
        startup, _ = cli("usage", "import", str(empty_csv), "--agency", AGENCY, "--db", url)
        cpu1 = children_cpu()
        log(f"[{name}] rebill usage import of {calls.n_calls:,} rows ...")
        cli_seconds, output = cli(
            "usage", "import", str(csv_path), "--agency", AGENCY, "--json", "--db", url
        )
        cli_cpu = max(children_cpu() - cpu1 - (cpu1 - cpu0), 1e-9)
        cli_report = json.loads(output)
        _, output = cli(
            "usage", "summary", "--agency", AGENCY, "--period", str(PERIOD), "--json", "--db", url
        )
        cli_billable = billable_by_sub(json.loads(output), "sub_accounts")
        cli_count = count_calls(url)
    cli_net = max(cli_seconds - startup, 1e-9)
    log(
        f"[{name}] CLI import {cli_seconds:.1f}s wall (start-up {startup:.1f}s): "
        f"{cli_report['imported']:,} imported, {cli_report['rejected']} rejected"
    )

    # -- the server --
    batched = calls.batched()
    bodies = [body(batched[i : i + args.batch]) for i in range(0, len(batched), args.batch)]
    singles = [body([row]) for row in calls.singles()]
    rng = random.Random(args.seed + 2)
    authorizations = [
        json.dumps(
            {
                "sub_account": sub_id(rng.randrange(args.subs)),
                "direction": "outbound" if rng.random() < 0.65 else "inbound",
            }
        ).encode()
        for _ in range(args.authorizations + args.warmup)
    ]
    with stores(f"{name}-api") as url:
        log(f"[{name}] server store: apply catalog, create key ...")
        key = setup_store(url, catalog_path)
        profile = f"{args.profile}/{name}-server.prof" if args.profile else None
        server = Server(url, workdir / f"{name}-server.log", profile, args.workers)
        log(f"[{name}] rebill serve pid {server.process.pid} on {server.base}")
        phases: dict[str, Any] = {}
        try:

            def phase(label: str, run: Any) -> dict[str, Any]:
                spy = Spy(args.py_spy, server.process.pid, f"{name}-{label}")
                cpu0, client0 = server.cpu(), time.process_time()
                result = run()
                result["server_cpu"] = server.cpu() - cpu0
                result["client_cpu"] = time.process_time() - client0
                result["server_rss_mib"] = round(rss_mib(server.process.pid))
                spy.stop()
                phases[label] = result
                return result

            log(f"[{name}] batched: {len(bodies):,} requests of {args.batch} ...")
            result = phase(
                "batched",
                lambda: closed_loop(server.base, key, "/v1/calls", bodies, args.batch_threads, 600),
            )
            log(
                f"[{name}] batched {result['seconds']:.1f}s, "
                f"{len(batched) / result['seconds']:,.0f} calls/s {result['results']}"
            )
            for failure in result["first_failures"]:
                log(f"[{name}] batched request failed: {failure}")
            response = httpx.get(
                f"{server.base}/v1/reports/usage",
                params={"period": str(PERIOD)},
                headers={"Authorization": f"Bearer {key}"},
                timeout=120,
            )
            response.raise_for_status()
            api_billable = billable_by_sub(response.json(), "data")

            log(f"[{name}] singles: {len(singles):,} requests ...")
            result = phase(
                "singles",
                lambda: closed_loop(
                    server.base, key, "/v1/calls", singles, args.single_threads, 60
                ),
            )
            log(
                f"[{name}] singles {result['seconds']:.1f}s, "
                f"{len(singles) / result['seconds']:,.0f} requests/s {result['results']}"
            )

            if args.warmup:
                open_loop(server.base, key, authorizations[: args.warmup], args.rate, 16)
            log(f"[{name}] authorize: {args.authorizations:,} at {args.rate:g}/s ...")
            result = phase(
                "authorize",
                lambda: open_loop(
                    server.base,
                    key,
                    authorizations[args.warmup :],
                    args.rate,
                    args.authorize_threads,
                ),
            )
            log(
                f"[{name}] authorize p50 {ms(percentile(result['from_due'], 0.5))} ms, "
                f"p99 {ms(percentile(result['from_due'], 0.99))} ms (from due time)"
            )
            stored = count_calls(url)
        finally:
            server.stop()

    b, s, a = phases["batched"], phases["singles"], phases["authorize"]
    batched_rate = len(batched) / b["seconds"]
    singles_rate = len(singles) / s["seconds"]
    cli_rate = cli_report["imported"] / cli_net
    cli_wall_rate = cli_report["imported"] / cli_seconds
    p99 = percentile(a["from_due"], 0.99)
    accepted = b["results"].get("accepted", 0) + s["results"].get("accepted", 0)
    expected = len(batched) + len(singles)
    mismatched = sorted(
        sub
        for sub in set(cli_billable) | set(api_billable)
        if cli_billable.get(sub) != api_billable.get(sub)
    )
    return {
        "store": name,
        "subs": args.subs,
        "calls": len(batched),
        "singles": len(singles),
        "authorizations": args.authorizations,
        "rate": args.rate,
        "cli_import_seconds": round(cli_seconds, 2),
        "cli_startup_seconds": round(startup, 2),
        "cli_rows": cli_report["imported"],
        "cli_rows_stored": cli_count,
        "cli_rows_per_s": round(cli_rate),
        "cli_rows_per_s_wall": round(cli_wall_rate),
        "cli_rows_per_cpu_s": round(cli_report["imported"] / cli_cpu),
        "batched_seconds": round(b["seconds"], 2),
        "batched_calls_per_s": round(batched_rate),
        "batched_vs_cli": round(batched_rate / cli_rate, 3),
        "batched_request_p50_ms": ms(percentile(b["latencies"], 0.5)),
        "batched_request_p99_ms": ms(percentile(b["latencies"], 0.99)),
        "batched_results": b["results"],
        "batched_failures": b["failures"],
        "batched_server_cpu_s": round(b["server_cpu"], 1),
        "batched_calls_per_server_cpu_s": round(len(batched) / max(b["server_cpu"], 1e-9)),
        "batched_server_cpu_us_per_call": round(1e6 * b["server_cpu"] / max(len(batched), 1), 1),
        "batched_client_cpu_s": round(b["client_cpu"], 1),
        "singles_seconds": round(s["seconds"], 2),
        "singles_per_s": round(singles_rate),
        "singles_p50_ms": ms(percentile(s["latencies"], 0.5)),
        "singles_p99_ms": ms(percentile(s["latencies"], 0.99)),
        "singles_results": s["results"],
        "singles_failures": s["failures"],
        "singles_server_cpu_ms_per_request": round(
            1000 * s["server_cpu"] / max(len(singles), 1), 2
        ),
        "singles_client_cpu_s": round(s["client_cpu"], 1),
        "authorize_seconds": round(a["seconds"], 2),
        "authorize_achieved_rate": round(a["requests"] / a["seconds"], 1),
        "authorize_p50_ms": ms(percentile(a["from_due"], 0.5)),
        "authorize_p99_ms": ms(p99),
        "authorize_p999_ms": ms(percentile(a["from_due"], 0.999)),
        "authorize_max_ms": ms(max(a["from_due"], default=float("nan"))),
        "authorize_send_p50_ms": ms(percentile(a["from_send"], 0.5)),
        "authorize_send_p99_ms": ms(percentile(a["from_send"], 0.99)),
        "authorize_late_p99_ms": ms(percentile(a["late"], 0.99)),
        "authorize_statuses": a["statuses"],
        "authorize_allowed": a["allowed"],
        "authorize_refused": a["refused"],
        "authorize_server_cpu_ms_per_request": round(
            1000 * a["server_cpu"] / max(a["requests"], 1), 2
        ),
        "authorize_warmup": args.warmup,
        "server_rss_mib": a["server_rss_mib"],
        "calls_stored": stored,
        "calls_expected": expected,
        "calls_accepted": accepted,
        "usage_matches_cli": not mismatched and bool(api_billable),
        "usage_mismatches": mismatched[:5],
        "targets_met": {
            "batched>=20000/s": batched_rate >= 20_000,
            "batched>=0.5xCLI": batched_rate >= 0.5 * cli_rate,
            "singles>=1000/s": singles_rate >= 1_000,
            "authorize_p99<=10ms": p99 <= 0.010,
        },
        "checks_passed": stored == expected == accepted
        and cli_count == len(batched)
        and not mismatched,
        "wall_seconds": round(time.perf_counter() - wall, 1),
    }


def finished(result: dict[str, Any]) -> dict[str, Any]:
    """Log a store's result as soon as it is known (a later store may fail or be cut short)."""
    log(f"[{result['store']}] result {json.dumps(result, separators=(',', ':'))}")
    return result


# -- output -----------------------------------------------------------------------------------
def table(results: list[dict[str, Any]]) -> str:
    rows = [
        (
            "sub-accounts / calls / singles",
            lambda r: f"{r['subs']}/{r['calls']:,}/{r['singles']:,}",
        ),
        ("CLI import seconds (wall)", lambda r: f"{r['cli_import_seconds']:.2f}"),
        ("  of which start-up", lambda r: f"{r['cli_startup_seconds']:.2f}"),
        ("CLI import rows/s (net)", lambda r: f"{r['cli_rows_per_s']:,}"),
        ("batched seconds", lambda r: f"{r['batched_seconds']:.2f}"),
        ("batched calls/s (>= 20,000)", lambda r: f"{r['batched_calls_per_s']:,}"),
        ("batched / CLI import (>= 0.5)", lambda r: f"{r['batched_vs_cli']:.3f}"),
        (
            "  request p50 / p99 ms",
            lambda r: f"{r['batched_request_p50_ms']:.0f}/{r['batched_request_p99_ms']:.0f}",
        ),
        (
            "  server / client CPU s",
            lambda r: f"{r['batched_server_cpu_s']:.0f}/{r['batched_client_cpu_s']:.0f}",
        ),
        ("  calls per server CPU second", lambda r: f"{r['batched_calls_per_server_cpu_s']:,}"),
        ("  server CPU µs/call (<= 25)", lambda r: f"{r['batched_server_cpu_us_per_call']:.1f}"),
        ("  CLI rows per CPU second", lambda r: f"{r['cli_rows_per_cpu_s']:,}"),
        ("singles requests/s (>= 1,000)", lambda r: f"{r['singles_per_s']:,}"),
        ("  p50 / p99 ms", lambda r: f"{r['singles_p50_ms']:.1f}/{r['singles_p99_ms']:.1f}"),
        (
            "  server CPU ms/request (<= 1.5)",
            lambda r: f"{r['singles_server_cpu_ms_per_request']:.2f}",
        ),
        ("authorize rate achieved /s", lambda r: f"{r['authorize_achieved_rate']:.0f}"),
        ("authorize p50 ms", lambda r: f"{r['authorize_p50_ms']:.2f}"),
        ("authorize p99 ms (<= 10)", lambda r: f"{r['authorize_p99_ms']:.2f}"),
        ("  p99.9 / max ms", lambda r: f"{r['authorize_p999_ms']:.1f}/{r['authorize_max_ms']:.1f}"),
        (
            "  p50 / p99 ms from send",
            lambda r: f"{r['authorize_send_p50_ms']:.2f}/{r['authorize_send_p99_ms']:.2f}",
        ),
        (
            "  server CPU ms/request (<= 1)",
            lambda r: f"{r['authorize_server_cpu_ms_per_request']:.2f}",
        ),
        ("calls stored / expected", lambda r: f"{r['calls_stored']:,}/{r['calls_expected']:,}"),
        ("usage report = CLI summary", lambda r: str(r["usage_matches_cli"])),
        ("checks passed", lambda r: str(r["checks_passed"])),
        ("store wall seconds", lambda r: f"{r['wall_seconds']:.0f}"),
    ]
    width = max(len(label) for label, _ in rows)
    out = io.StringIO()
    out.write(f"{'':{width}}" + "".join(f"  {r['store']:>16}" for r in results) + "\n")
    for label, cell in rows:
        out.write(f"{label:{width}}" + "".join(f"  {cell(r):>16}" for r in results) + "\n")
    return out.getvalue()


def git_revision() -> str:
    """The commit measured, with "+dirty" when src/ has uncommitted changes."""
    if os.environ.get("REBILL_BENCH_REVISION"):
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
    parser.add_argument("--calls", type=int, default=1_000_000, help="calls posted in batches")
    parser.add_argument("--batch", type=int, default=1_000, help="calls per batched request")
    parser.add_argument("--singles", type=int, default=20_000, help="single-call requests")
    parser.add_argument("--authorizations", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=500.0, help="authorizations per second")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured authorizations first")
    parser.add_argument("--subs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=20261001)
    parser.add_argument("--batch-threads", type=int, default=2)
    parser.add_argument("--single-threads", type=int, default=4)
    parser.add_argument("--authorize-threads", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="rebill serve --workers N")
    parser.add_argument("--postgres", metavar="URL", help="also run on PostgreSQL (fresh schemas)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    parser.add_argument("--profile", metavar="DIR", help="run the server under cProfile")
    parser.add_argument("--py-spy", metavar="DIR", help="py-spy the server during each phase")
    args = parser.parse_args()
    for directory in (args.profile, args.py_spy):
        if directory:
            Path(directory).mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="rebill-ingest-"))
    results = []
    try:
        t0 = time.perf_counter()
        calls = Calls(args.calls, args.singles, args.subs, args.seed)
        calls.write_csv(workdir / "calls.csv")
        (workdir / "catalog.json").write_text(json.dumps(catalog(args.subs)))
        log(
            f"generated {args.calls:,} + {args.singles:,} calls over {args.subs} sub-accounts "
            f"in {time.perf_counter() - t0:.1f}s"
        )
        if not args.no_sqlite:
            results.append(
                finished(
                    run_store("sqlite", lambda n: sqlite_store(workdir, n), workdir, calls, args)
                )
            )
        if args.postgres:
            results.append(
                finished(
                    run_store(
                        "postgresql", lambda n: postgres_store(args.postgres), workdir, calls, args
                    )
                )
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    if args.py_spy:
        for name in sorted(os.listdir(args.py_spy)):
            if name.endswith(".txt"):
                print(f"\n== py-spy {name} ==")
                print(summarize_spy(Path(args.py_spy) / name))

    print()
    print(table(results))
    summary = {
        "bench": "ingest",
        "python": platform.python_version(),
        "rebill": git_revision(),
        "cpus": os.cpu_count(),
        "total_seconds": round(time.perf_counter() - started, 1),
        "results": results,
    }
    print(json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
