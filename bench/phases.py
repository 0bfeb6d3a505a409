"""Where a cold run's CPU time goes, phase by phase, in one process.

    python bench/phases.py                   # each file at its go.mod's version
    python bench/phases.py --go-version 1.21 # every rule on

Times reading, the prefilter, parsing and each rule's ``check`` over
``$(go env GOROOT)/src`` (or --root), without a profiler's overhead (a
sampling profiler inflates pure-Python tree walks relative to C parsing).
These are CPU seconds of one core; a run with --jobs N spreads them.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import time

from gofix_defer.codemods.analysis.goversion import effective_go_version, parse_go_version
from gofix_defer.codemods.analysis.source import SourceFile
from gofix_defer.codemods.engine.process import applicable_rules
from gofix_defer.codemods.engine.suppress import is_generated
from gofix_defer.codemods.run.discovery import discover
from gofix_defer.rules import ALL_RULES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=None)
    parser.add_argument("--go-version", default=None)
    args = parser.parse_args()
    root = args.root or os.path.join(subprocess.check_output(["go", "env", "GOROOT"], text=True).strip(), "src")
    override = parse_go_version(args.go_version) if args.go_version else None
    files = discover([root]).files
    per_rule: collections.Counter[str] = collections.Counter()
    read = prefilter = parse = 0.0
    total_bytes = parsed_files = parsed_bytes = 0
    for path in files:
        start = time.process_time()
        with open(path, "rb") as handle:
            data = handle.read()
        read += time.process_time() - start
        total_bytes += len(data)
        start = time.process_time()
        version = effective_go_version(path, override)
        rules = [] if is_generated(data) else applicable_rules(path, data, version, ALL_RULES)
        prefilter += time.process_time() - start
        if not rules:
            continue
        start = time.process_time()
        source = SourceFile(path, data, version)
        parse += time.process_time() - start
        parsed_files += 1
        parsed_bytes += len(data)
        for rule in rules:
            start = time.process_time()
            list(rule.check(source))
            per_rule[rule.name] += time.process_time() - start
    checks = sum(per_rule.values())
    total = read + prefilter + parse + checks
    print(f"{len(files)} files, {total_bytes / 1e6:.1f} MB; Go version: {args.go_version or 'each go.mod'}")
    print(f"prefilter skipped {len(files) - parsed_files} files ({100 * (len(files) - parsed_files) / len(files):.0f}%), "
          f"{(total_bytes - parsed_bytes) / 1e6:.1f} MB ({100 * (total_bytes - parsed_bytes) / total_bytes:.0f}%)")
    print(f"{'phase':<34} {'CPU s':>7} {'share':>6}")
    rows = [("read", read), ("prefilter (triggers, Go version)", prefilter),
            (f"parse ({parsed_bytes / 1e6:.1f} MB, {parsed_bytes / 1e6 / max(parse, 1e-9):.1f} MB/s)", parse)]
    rows += [(f"rule {name}", seconds) for name, seconds in per_rule.most_common()]
    for label, seconds in rows:
        print(f"{label:<34} {seconds:7.2f} {100 * seconds / total:5.0f}%")
    print(f"{'total':<34} {total:7.2f}")


if __name__ == "__main__":
    main()
