"""Benchmark: how long a `rebill` command takes as a whole process, against the bare imports of
the libraries it cannot do without (issue 16).

Each pair runs its two commands in turn, A B A B ..., --runs times each after --warmup unmeasured
runs, and takes the ratio A/B run by run (a machine whose speed drifts moves both sides of a
pair alike). Wall seconds are read around each child; CPU seconds (user + system) and peak RSS
are the child's own, from wait4.

  help     `rebill --help`              vs `python -c "import typer, rich"`            <= 2.0
  summary  `rebill usage summary ...`   vs `python -c "import sqlalchemy, typer, rich"` <= 1.5
  invoices `rebill invoices list ...`   vs `python -c "import sqlalchemy, typer, rich"` <= 1.5

The read commands run on the demo database: built untimed by `rebill demo` in a temporary
folder, or given with --db URL --period YYYY-MM.

Bytecode: Python normally caches compiled modules (`__pycache__`); `--bytecode cached` (the
default) gives every child a fresh cache folder (PYTHONPYCACHEPREFIX) that the warm-up fills,
so the runs measure a command as an installed tool runs it. `--bytecode as-installed` writes
no bytecode (PYTHONDONTWRITEBYTECODE=1, no prefix): the children use only the bytecode the
installation already has (the standard library's; none for a uv environment installed without
--compile-bytecode under PYTHONDONTWRITEBYTECODE=1, which then compiles every package it
imports on every run); `both` runs the two in turn.

    uv run python bench/cli_startup.py                   # 11 paired runs each, cached bytecode
    uv run python bench/cli_startup.py --runs 21 --bytecode both
    uv run python bench/cli_startup.py --db sqlite:///rebill-demo.db --period 2026-11
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from revision import revision

ROOT = Path(__file__).resolve().parent.parent
REBILL = Path(sys.executable).parent / "rebill"  # the console script of this environment
runs_min = 5


@dataclass
class Pair:
    name: str
    command: list[str]
    baseline: list[str]
    target_ratio: float
    wall_seconds: dict[str, list[float]] = field(default_factory=lambda: {"A": [], "B": []})
    cpu_seconds: dict[str, list[float]] = field(default_factory=lambda: {"A": [], "B": []})
    peak_mib: dict[str, list[float]] = field(default_factory=lambda: {"A": [], "B": []})


def run_once(command: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak MiB) of one run; a failing command stops the bench."""
    started = time.perf_counter()
    child = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert child.stderr is not None
    errors = child.stderr.read()  # small: the commands print tables on stdout
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    child.stderr.close()
    if child.returncode != 0:
        sys.exit(f"{' '.join(command)} exited {child.returncode}: {errors.decode()[-2000:]}")
    # ru_maxrss is in KiB on Linux.
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def measure(pair: Pair, runs: int, warmup: int, env: dict[str, str]) -> dict[str, Any]:
    for _ in range(warmup):
        run_once(pair.command, env)
        run_once(pair.baseline, env)
    for _ in range(runs):
        for side, command in (("A", pair.command), ("B", pair.baseline)):
            wall, cpu, peak = run_once(command, env)
            pair.wall_seconds[side].append(wall)
            pair.cpu_seconds[side].append(cpu)
            pair.peak_mib[side].append(peak)
    wall_ratios = [a / b for a, b in zip(*pair.wall_seconds.values(), strict=True)]
    cpu_ratios = [a / b for a, b in zip(*pair.cpu_seconds.values(), strict=True)]
    return {
        "pair": pair.name,
        "command": " ".join(pair.command[:4]) + (" ..." if len(pair.command) > 4 else ""),
        "baseline": " ".join(pair.baseline),
        "runs": runs,
        "wall_s_median": round(statistics.median(pair.wall_seconds["A"]), 3),
        "baseline_wall_s_median": round(statistics.median(pair.wall_seconds["B"]), 3),
        "wall_ratio_median": round(statistics.median(wall_ratios), 2),
        "wall_ratio_min": round(min(wall_ratios), 2),
        "wall_ratio_max": round(max(wall_ratios), 2),
        "cpu_s_median": round(statistics.median(pair.cpu_seconds["A"]), 3),
        "baseline_cpu_s_median": round(statistics.median(pair.cpu_seconds["B"]), 3),
        "cpu_ratio_median": round(statistics.median(cpu_ratios), 2),
        "peak_mib_median": round(statistics.median(pair.peak_mib["A"]), 1),
        "baseline_peak_mib_median": round(statistics.median(pair.peak_mib["B"]), 1),
        "target_ratio_max": pair.target_ratio,
        "met": statistics.median(wall_ratios) <= pair.target_ratio,
    }


def child_env(bytecode: str, cache: Path) -> dict[str, str]:
    env = {**os.environ, "COLUMNS": "120"}
    if bytecode == "cached":
        env["PYTHONPYCACHEPREFIX"] = str(cache)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env.pop("PYTHONPYCACHEPREFIX", None)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def demo_database(folder: Path) -> tuple[str, str]:
    """`rebill demo` in `folder` (untimed): the demo database's URL and its closed period."""
    done = subprocess.run(
        [str(REBILL), "demo", "--json"], cwd=folder, capture_output=True, text=True, check=True
    )
    period = json.loads(done.stdout)["period"]
    return f"sqlite:///{folder / 'rebill-demo.db'}", period


def pairs(db: str, period: str) -> list[Pair]:
    python = sys.executable
    read_baseline = [python, "-c", "import sqlalchemy, typer, rich"]
    return [
        Pair("help", [str(REBILL), "--help"], [python, "-c", "import typer, rich"], 2.0),
        Pair(
            "usage summary",
            [str(REBILL), "usage", "summary", "--agency", "acme", "--period", period, "--db", db],
            read_baseline,
            1.5,
        ),
        Pair("invoices list", [str(REBILL), "invoices", "list", "--db", db], read_baseline, 1.5),
    ]


def table(results: list[dict[str, Any]]) -> str:
    header = (
        f"{'bytecode':<13}{'pair':<15}{'A wall s':>9}{'B wall s':>9}{'A/B wall':>9}"
        f"{'(min-max)':>12}{'A/B cpu':>8}{'A MiB':>7}{'target':>8}  met"
    )
    lines = [header]
    for r in results:
        spread = f"{r['wall_ratio_min']}-{r['wall_ratio_max']}"
        lines.append(
            f"{r['bytecode']:<13}{r['pair']:<15}{r['wall_s_median']:>9.3f}"
            f"{r['baseline_wall_s_median']:>9.3f}{r['wall_ratio_median']:>9.2f}{spread:>12}"
            f"{r['cpu_ratio_median']:>8.2f}{r['peak_mib_median']:>7.1f}"
            f"{'<= ' + str(r['target_ratio_max']):>8}  {'yes' if r['met'] else 'no'}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=11, help=f"paired runs (>= {runs_min})")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured runs of each side")
    parser.add_argument("--bytecode", choices=["cached", "as-installed", "both"], default="cached")
    parser.add_argument("--db", help="a demo database's URL (default: `rebill demo`, untimed)")
    parser.add_argument("--period", help="with --db: its closed month, YYYY-MM")
    args = parser.parse_args()
    if args.runs < runs_min:
        parser.error(f"--runs: at least {runs_min}")
    if bool(args.db) != bool(args.period):
        parser.error("give --db and --period together")

    load_at_start = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory(prefix="rebill-cli-") as tmp:
        folder = Path(tmp)
        db, period = (args.db, args.period) if args.db else demo_database(folder)
        modes = ["cached", "as-installed"] if args.bytecode == "both" else [args.bytecode]
        for mode in modes:
            cache = folder / f"pycache-{mode}"
            cache.mkdir()
            env = child_env(mode, cache)
            for pair in pairs(db, period):
                result = {"bytecode": mode, **measure(pair, args.runs, args.warmup, env)}
                print(f"{mode} {pair.name}: {json.dumps(result)}", file=sys.stderr)
                results.append(result)
    print(table(results))
    summary = {
        "bench": "cli_startup",
        "revision": revision(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_avg_1m_at_start": round(load_at_start, 2),
        "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
        "results": results,
    }
    print(json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
