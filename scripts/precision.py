#!/usr/bin/env python3
"""Precision of the rules on real code, against findings read and labelled by hand.

precision/*.tsv (one file per rule or group of rules, all read) hold one
verdict per line, tab-separated, with a header:

  path     the file, relative to the corpus root (/usr/share/gocode/src for
           Debian's Go sources)
  line     the line of the finding
  rule     the rule that reports it
  verdict  `real` (the bug is there) or `false` (a false report)
  reason   one line: why

Lines starting with `#` are comments. loop-var-capture is measured as at
`--go-version 1.21` (from Go 1.22 on, loop variables are per iteration and the
rule is silent). This script re-runs the tool on the
corpus (report only, nothing is written) with the rules that have labels (or
those named with --rule), takes per rule every finding, or a fixed-seed sample
of --sample findings when there are more, and prints per rule: findings,
sampled, labelled, real, false, precision (real / labelled). Sampled findings
without a label are listed, so that someone reads and labels them; labels no
finding matches any more are listed as stale.

With --check-fixes it also applies every fix of those rules (--write
--unsafe-fixes) to a copy of the corpus and checks, as scripts/corpus_check.py
does, that every changed file is gofmt-clean and every changed package still
vets (or, where it did not vet before, still compiles with its tests).

Usage:
  python scripts/precision.py [--root DIR] [--labels FILE ...] [--rule NAME ...]
                              [--sample 25] [--seed 16] [--min-precision 0.9]
                              [--check-fixes] [--workdir DIR]
Exits 1 when a rule's precision is below --min-precision, a sampled finding
has no label, or --check-fixes finds a failure; 2 on bad input.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gofix_defer.codemods.engine.process import Settings  # noqa: E402
from gofix_defer.codemods.model import INTERNAL_ERROR, SYNTAX_ERROR  # noqa: E402
from gofix_defer.codemods.run.discovery import discover  # noqa: E402
from gofix_defer.codemods.run.workers import run  # noqa: E402
from gofix_defer.rules import by_name  # noqa: E402

DEBIAN_SOURCES = Path("/usr/share/gocode/src")
LABELS = REPO / "precision"
# Rules measured as at an older Go version, where what they find exists at all.
_GO_VERSION = {"loop-var-capture": (1, 21)}
COLUMNS = ["path", "line", "rule", "verdict", "reason"]
VERDICTS = ("real", "false")
# Read every file, however large (the tool's default budget skips generated tables).
_NO_LIMIT = 1 << 30


@dataclass(frozen=True)
class Label:
    path: str
    line: int
    rule: str
    verdict: str
    reason: str

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.path, self.line, self.rule)


@dataclass(frozen=True)
class Finding:
    path: str  # relative to the corpus root
    line: int
    rule: str
    message: str

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.path, self.line, self.rule)


class LabelError(ValueError):
    pass


def read_labels(path: Path) -> list[Label]:
    """The labels of ``path``; LabelError (with the line) on a malformed row."""
    labels = []
    rows = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")]
    if not rows:
        return []
    header = rows[0].split("\t")
    if header != COLUMNS:
        raise LabelError(f"{path}: the first line must be the header {' / '.join(COLUMNS)} (tab-separated), not {rows[0]!r}")
    seen: set[tuple[str, int, str]] = set()
    for number, row in enumerate(csv.reader(rows[1:], delimiter="\t", quoting=csv.QUOTE_NONE), start=2):
        if len(row) != len(COLUMNS):
            raise LabelError(f"{path}: row {number}: {len(row)} columns, expected {len(COLUMNS)}: {row!r}")
        file, line, rule, verdict, reason = row
        if not line.isdigit() or verdict not in VERDICTS or not reason.strip() or by_name(rule) is None:
            raise LabelError(f"{path}: row {number}: need a line number, a known rule, a verdict ({'/'.join(VERDICTS)}) and a reason: {row!r}")
        label = Label(file, int(line), rule, verdict, reason.strip())
        if label.key in seen:
            raise LabelError(f"{path}: row {number}: {file}:{line} [{rule}] is labelled twice")
        seen.add(label.key)
        labels.append(label)
    return labels


def label_files(paths: list[str]) -> list[Path]:
    """The label files named (a folder stands for its *.tsv files, in name order)."""
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        files += sorted(path.glob("*.tsv")) if path.is_dir() else [path]
    return files


def read_all_labels(paths: list[Path]) -> list[Label]:
    labels: list[Label] = []
    seen: dict[tuple[str, int, str], Path] = {}
    for path in paths:
        for label in read_labels(path):
            if label.key in seen:
                raise LabelError(f"{path}: {label.path}:{label.line} [{label.rule}] is labelled in {seen[label.key]} too")
            seen[label.key] = path
            labels.append(label)
    return labels


def findings(root: Path, rules: list[str]) -> list[Finding]:
    """Every finding of ``rules`` on the corpus (nothing written), paths relative to ``root``."""
    found = []
    files = discover([str(root)]).files
    versions = sorted({_GO_VERSION.get(name) for name in rules}, key=lambda v: v or (0, 0))
    for version in versions:
        group = [name for name in rules if _GO_VERSION.get(name) == version]
        settings = Settings(rules=[by_name(name) for name in group], max_file_size=_NO_LIMIT, go_version=version)
        for result in run(files, settings):
            for diagnostic in result.diagnostics:
                if diagnostic.rule in (INTERNAL_ERROR, SYNTAX_ERROR) or diagnostic.rule not in group:
                    continue
                found.append(Finding(os.path.relpath(result.path, root), diagnostic.line, diagnostic.rule, diagnostic.message))
    return sorted(found, key=lambda f: (f.rule, f.path, f.line, f.message))


def sample(found: list[Finding], size: int, seed: int) -> list[Finding]:
    """All of ``found`` when there are at most ``size``, else a sample fixed by ``seed``."""
    if len(found) <= size:
        return list(found)
    chosen = random.Random(seed).sample(found, size)
    return sorted(chosen, key=lambda f: (f.path, f.line))


def report(found: list[Finding], labels: list[Label], rules: list[str], size: int, seed: int, minimum: float) -> bool:
    """Print the per-rule table and what needs a reader; True when all is well."""
    by_key = {label.key: label for label in labels}
    ok = True
    print(f"{'rule':<30} {'findings':>8} {'sampled':>7} {'labelled':>8} {'real':>5} {'false':>5} {'precision':>9}")
    pending: list[Finding] = []
    for rule in rules:
        own = [f for f in found if f.rule == rule]
        chosen = sample(own, size, seed)
        matched = [by_key[f.key] for f in chosen if f.key in by_key]
        real = sum(1 for label in matched if label.verdict == "real")
        precision = real / len(matched) if matched else None
        shown = f"{precision:.0%}" if precision is not None else "-"
        print(f"{rule:<30} {len(own):>8} {len(chosen):>7} {len(matched):>8} {real:>5} {len(matched) - real:>5} {shown:>9}")
        pending += [f for f in chosen if f.key not in by_key]
        if precision is not None and precision < minimum:
            ok = False
    if pending:
        ok = False
        print(f"\nsampled findings without a label ({len(pending)}): read them and add a row to the labels")
        for finding in pending:
            print(f"  {finding.path}\t{finding.line}\t{finding.rule}\t?\t{finding.message}")
    reported = {f.key for f in found}
    stale = [label for label in labels if label.rule in rules and label.key not in reported]
    if stale:
        print(f"\nlabels no finding matches any more ({len(stale)}): the code or the rule changed")
        for label in stale:
            print(f"  {label.path}:{label.line} [{label.rule}] {label.verdict}: {label.reason}")
    return ok


def check_fixes(root: Path, rules: list[str], workdir: Path) -> bool:
    """Apply every fix of ``rules`` to a copy of the corpus and prove the result builds
    and vets as before (scripts/corpus_check.py's check)."""
    sys.path.insert(0, str(REPO / "scripts"))
    import corpus_check  # noqa: PLC0415

    settings = Settings(rules=[by_name(name) for name in rules], unsafe_fixes=True, apply_fixes=True, max_file_size=_NO_LIMIT)
    name = "debian" if root.resolve() == DEBIAN_SOURCES.resolve() else "corpus"
    result = corpus_check.check_corpus(name, root, workdir, settings, True, False, None)
    print(f"\nfixes applied: {result['fixes']}; files changed: {result['changed']}; go vet / build: {result['vet']}")
    print(f"failures: {len(result['failures'])}")
    for failure in result["failures"]:
        print(f"  {failure}")
    return not result["failures"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(DEBIAN_SOURCES), help="the corpus the labels' paths are relative to")
    parser.add_argument("--labels", action="append", help="a label file or folder of them (default: precision/)")
    parser.add_argument("--rule", action="append", help="rules to measure (default: every rule with a label)")
    parser.add_argument("--sample", type=int, default=25, help="findings read per rule, when it has more (default 25)")
    parser.add_argument("--seed", type=int, default=16, help="the sample's random seed (default 16)")
    parser.add_argument("--min-precision", type=float, default=0.9)
    parser.add_argument("--check-fixes", action="store_true", help="apply the fixes to a copy and build and vet it")
    parser.add_argument("--workdir", help="where --check-fixes copies the corpus (default: a temporary folder, removed)")
    args = parser.parse_args()
    root = Path(args.root)
    if not root.is_dir():
        hint = f" (apt-get install the packages listed in {LABELS / 'debian-packages.txt'})" if root == DEBIAN_SOURCES else ""
        print(f"error: {root} is not a folder{hint}", file=sys.stderr)
        return 2
    try:
        labels = read_all_labels(label_files(args.labels or [str(LABELS)]))
    except (OSError, LabelError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rules = args.rule or sorted({label.rule for label in labels})
    unknown = [name for name in rules if by_name(name) is None]
    if unknown or not rules or args.sample < 1:
        print(f"error: give known rules and a positive --sample ({', '.join(unknown) or 'no rule'})", file=sys.stderr)
        return 2
    found = findings(root, rules)
    print(f"corpus {root}: {len(found)} findings of {', '.join(rules)}; sample of {args.sample} per rule, seed {args.seed}\n")
    ok = report(found, labels, rules, args.sample, args.seed, args.min_precision)
    if args.check_fixes:
        workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="gofix-precision-"))
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            ok = check_fixes(root, rules, workdir) and ok
        finally:
            if not args.workdir:
                shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
